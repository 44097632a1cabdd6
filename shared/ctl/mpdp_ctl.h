/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The control socket's framing, for the primary, the stages and clients.
 *
 * A frame is a 4-byte little-endian length followed by that many bytes of
 * one packed protobuf message (proto/mpdp.proto). Frames longer than
 * MPDP_CTL_FRAME_MAX are refused: a reader that sees such a length closes
 * the connection rather than allocate. A frame may carry one file
 * descriptor (SCM_RIGHTS) with its first byte, e.g. the file a capture
 * writes to, opened by the client with its own rights.
 *
 * The calls here block (with a timeout); the primary's server reads
 * non-blocking and uses mpdp_ctl_frame_length() on what it has buffered.
 */
#ifndef MPDP_CTL_H
#define MPDP_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "mpdp.pb-c.h"
#include "mpdp_err.h"

/** The protocol version this library speaks (Request.version). */
#define MPDP_CTL_VERSION 1

/** Largest payload of a frame. */
#define MPDP_CTL_FRAME_MAX (1u << 20)

/** Bytes of the length prefix. */
#define MPDP_CTL_HDR 4

/** Default wait for an answer, in milliseconds. */
#define MPDP_CTL_TIMEOUT_MS 5000

/**
 * The control socket's path for instance @p name: ctl.sock in the instance's
 * runtime directory (see mpdp_shm.h).
 *
 * @return 0, -EINVAL (bad name), -ENAMETOOLONG
 */
int mpdp_ctl_socket_path(const char *name, const char *runtime_dir, char *out, size_t len);

/**
 * Connect to the control socket of instance @p name.
 *
 * @return a connected descriptor, or -errno with the reason in @p eb
 *         (-ENOENT: no instance of that name serves control)
 */
int mpdp_ctl_connect(const char *name, const char *runtime_dir, struct mpdp_errbuf *eb);

/**
 * The payload length of the frame at the start of @p buf.
 *
 * @return 1 when a whole frame is there (*payload_len set), 0 when more
 *         bytes are needed, -EMSGSIZE when the length exceeds @p max
 */
int mpdp_ctl_frame_length(const uint8_t *buf, size_t len, size_t max, size_t *payload_len);

/**
 * Pack @p msg into one frame, whole, in a malloc'd buffer.
 *
 * @return 0, -ENOMEM, -EMSGSIZE (larger than MPDP_CTL_FRAME_MAX)
 */
int mpdp_ctl_pack(const ProtobufCMessage *msg, uint8_t **frame, size_t *frame_len);

/**
 * Send @p msg as one frame, with @p pass_fd (when >= 0) attached.
 *
 * @return 0, or -errno (-EMSGSIZE, -EPIPE, ...)
 */
int mpdp_ctl_send(int fd, const ProtobufCMessage *msg, int pass_fd);

/**
 * Read one frame, waiting up to @p timeout_ms (-1: for ever).
 *
 * @param payload  malloc'd payload, to free()
 * @param passed_fd  NULL to refuse descriptors (any is closed), else set
 *                   to a descriptor that came with the frame or -1
 * @return 0, -ETIMEDOUT, -ECONNRESET (closed, also mid-frame), -EMSGSIZE,
 *         or another -errno
 */
int mpdp_ctl_recv(int fd, uint8_t **payload, size_t *len, int *passed_fd, int timeout_ms);

/**
 * Send @p req (its version is set here) and read its Response.
 *
 * @return the response, to free with mpdp_ctl_response_free(), or NULL
 *         with the reason in @p eb
 */
Mpdppb__Response *mpdp_ctl_call(int fd, Mpdppb__Request *req, int pass_fd, int timeout_ms,
				struct mpdp_errbuf *eb);

/** Free what mpdp_ctl_call() returned. */
void mpdp_ctl_response_free(Mpdppb__Response *resp);

/** Name of a Response status: "ok", or strerror() of the errno value. */
const char *mpdp_ctl_status_name(int32_t status);

#endif /* MPDP_CTL_H */
