/* SPDX-License-Identifier: BSD-3-Clause */
/* Control socket framing: see mpdp_ctl.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mpdp_ctl.h"
#include "mpdp_shm.h"
#include "mpdp_time.h"

int
mpdp_ctl_socket_path(const char *name, const char *runtime_dir, char *out, size_t len)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int rc = mpdp_shm_instance_dir(name, runtime_dir, dir, sizeof(dir));
	int n;

	if (rc != 0)
		return rc;
	n = snprintf(out, len, "%s/ctl.sock", dir);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int
mpdp_ctl_connect(const char *name, const char *runtime_dir, struct mpdp_errbuf *eb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	rc = mpdp_ctl_socket_path(name, runtime_dir, sa.sun_path, sizeof(sa.sun_path));
	if (rc != 0)
		return mpdp_err_set(eb, rc, "instance '%s': %s", name ? name : MPDP_SHM_DEFAULT_NAME,
				    rc == -EINVAL ? "bad instance name" : "socket path too long");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mpdp_err_set(eb, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = -errno;
		close(fd);
		if (rc == -ENOENT || rc == -ECONNREFUSED)
			return mpdp_err_set(eb, -ENOENT, "instance '%s' is not running (nothing serves %s)",
					    name ? name : MPDP_SHM_DEFAULT_NAME, sa.sun_path);
		return mpdp_err_set(eb, rc, "%s: %s", sa.sun_path, strerror(-rc));
	}
	return fd;
}

static uint32_t
header_length(const uint8_t *buf)
{
	return (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
}

int
mpdp_ctl_frame_length(const uint8_t *buf, size_t len, size_t max, size_t *payload_len)
{
	uint32_t n;

	if (len < MPDP_CTL_HDR)
		return 0;
	n = header_length(buf);
	if (n > max)
		return -EMSGSIZE;
	if (len - MPDP_CTL_HDR < n)
		return 0;
	*payload_len = n;
	return 1;
}

int
mpdp_ctl_pack(const ProtobufCMessage *msg, uint8_t **frame, size_t *frame_len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf;

	if (n > MPDP_CTL_FRAME_MAX)
		return -EMSGSIZE;
	buf = malloc(MPDP_CTL_HDR + n);
	if (buf == NULL)
		return -ENOMEM;
	buf[0] = (uint8_t)n;
	buf[1] = (uint8_t)(n >> 8);
	buf[2] = (uint8_t)(n >> 16);
	buf[3] = (uint8_t)(n >> 24);
	protobuf_c_message_pack(msg, buf + MPDP_CTL_HDR);
	*frame = buf;
	*frame_len = MPDP_CTL_HDR + n;
	return 0;
}

/* Write all of @p buf, the descriptor (when >= 0) with the first byte. */
static int
send_all(int fd, const uint8_t *buf, size_t len, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctrl;

	while (len > 0) {
		struct iovec iov = { (void *)buf, len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (pass_fd >= 0) {
			struct cmsghdr *c;

			memset(&ctrl, 0, sizeof(ctrl));
			mh.msg_control = ctrl.buf;
			mh.msg_controllen = sizeof(ctrl.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		pass_fd = -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
mpdp_ctl_send(int fd, const ProtobufCMessage *msg, int pass_fd)
{
	uint8_t *frame;
	size_t len;
	int rc = mpdp_ctl_pack(msg, &frame, &len);

	if (rc != 0)
		return rc;
	rc = send_all(fd, frame, len, pass_fd);
	free(frame);
	return rc;
}

/* Read exactly @p len bytes by @p deadline_ns (0: none), keeping a descriptor that comes along. */
static int
recv_all(int fd, uint8_t *buf, size_t len, int *passed_fd, uint64_t deadline_ns)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctrl;

	while (len > 0) {
		struct iovec iov = { buf, len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf) };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait_ms = -1;
		ssize_t n;

		if (deadline_ns != 0) {
			uint64_t now = mpdp_time_ns();

			if (now >= deadline_ns)
				return -ETIMEDOUT;
			wait_ms = (int)((deadline_ns - now + 999999) / 1000000);
		}
		n = poll(&pfd, 1, wait_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int got;

				memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (passed_fd != NULL && *passed_fd < 0)
					*passed_fd = got;
				else
					close(got);
			}
		}
		if (n == 0)
			return -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
mpdp_ctl_recv(int fd, uint8_t **payload, size_t *len, int *passed_fd, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : mpdp_time_ns() + (uint64_t)timeout_ms * 1000000u;
	uint8_t hdr[MPDP_CTL_HDR], *buf;
	size_t n;
	int rc;

	if (passed_fd != NULL)
		*passed_fd = -1;
	rc = recv_all(fd, hdr, sizeof(hdr), passed_fd, deadline);
	if (rc != 0)
		goto fail;
	n = header_length(hdr);
	if (n > MPDP_CTL_FRAME_MAX) {
		rc = -EMSGSIZE;
		goto fail;
	}
	buf = malloc(n ? n : 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = recv_all(fd, buf, n, passed_fd, deadline);
	if (rc != 0) {
		free(buf);
		goto fail;
	}
	*payload = buf;
	*len = n;
	return 0;
fail:
	if (passed_fd != NULL && *passed_fd >= 0) {
		close(*passed_fd);
		*passed_fd = -1;
	}
	return rc;
}

Mpdppb__Response *
mpdp_ctl_call(int fd, Mpdppb__Request *req, int pass_fd, int timeout_ms, struct mpdp_errbuf *eb)
{
	Mpdppb__Response *resp;
	uint8_t *payload;
	size_t len;
	int rc;

	req->version = MPDP_CTL_VERSION;
	rc = mpdp_ctl_send(fd, &req->base, pass_fd);
	/* A refused peer is told why before the primary closes: read that rather than EPIPE. */
	if (rc == -EPIPE || rc == -ECONNRESET) {
		if (mpdp_ctl_recv(fd, &payload, &len, NULL, 100) == 0)
			goto decode;
	}
	if (rc != 0) {
		mpdp_err_set(eb, rc, "cannot send the request: %s", strerror(-rc));
		return NULL;
	}
	rc = mpdp_ctl_recv(fd, &payload, &len, NULL, timeout_ms);
	if (rc != 0) {
		mpdp_err_set(eb, rc, "%s", rc == -ETIMEDOUT ? "no answer in time" :
			     rc == -ECONNRESET ? "the primary closed the connection" :
			     rc == -EMSGSIZE ? "the answer is larger than the frame limit" : strerror(-rc));
		return NULL;
	}
decode:
	resp = mpdppb__response__unpack(NULL, len, payload);
	free(payload);
	if (resp == NULL)
		mpdp_err_set(eb, -EPROTO, "the answer is not a valid Response message");
	return resp;
}

void
mpdp_ctl_response_free(Mpdppb__Response *resp)
{
	if (resp != NULL)
		mpdppb__response__free_unpacked(resp, NULL);
}

const char *
mpdp_ctl_status_name(int32_t status)
{
	return status == 0 ? "ok" : strerror(status);
}
