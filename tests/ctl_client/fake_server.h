/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A stand-in for the primary's control server, for the tests of mpdpctl:
 * it listens on an instance's ctl.sock and answers each Request with a
 * canned Response built with the generated C API, and logs every Request
 * (as JSON, one line each) so a test can check what the client sent.
 *
 * Names in requests choose odd answers: "nosuch" is refused with ENOENT,
 * "hang" is never answered, "garbage" gets a frame that is no Response,
 * "close" gets the connection closed, "mismatch" gets another body than
 * asked for, "empty" gets status 0 with nothing in it, "wrongid" gets the
 * id of another request.
 */
#ifndef MPDP_TEST_FAKE_SERVER_H
#define MPDP_TEST_FAKE_SERVER_H

#include <sys/types.h>

/** The capture id the fake answers capture start with. */
#define FAKE_CAPTURE_ID 7

/** Per request on a connection, counters grow by these and now_ns by 1 s. */
#define FAKE_RX_PKTS 1000u
#define FAKE_RX_BYTES 64000u

/**
 * Listen on @p sock_path and serve in a forked process (its own process
 * group, one child per connection), logging requests to @p log_path.
 * @return the server's pid (also its process group), or -errno
 */
pid_t fake_server_start(const char *sock_path, const char *log_path);

/** Stop the server and every connection it serves. */
void fake_server_stop(pid_t pid);

#endif /* MPDP_TEST_FAKE_SERVER_H */
