/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

pid_t
test_child_spawn(const struct test_instance *ti, test_child_fn *fn, void *arg, unsigned timeout_s)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mpdp_shm *shm;
		int rc;

		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		alarm(timeout_s);
		shm = test_instance_attach(ti);   /* drops the inherited mapping first */
		rc = fn(shm, arg);
		mpdp_shm_close(shm);
		_exit(rc);
	}
	return pid;
}

int
test_child_wait(pid_t pid, unsigned timeout_s)
{
	int status = 0;
	pid_t r;

	alarm(timeout_s + 30);
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	alarm(0);
	assert_int_equal(r, pid);
	return status;
}

void
test_child_expect_exit(pid_t pid, int code, unsigned timeout_s)
{
	int status = test_child_wait(pid, timeout_s);

	if (!WIFEXITED(status))
		print_error("child %d ended by signal %d\n", (int)pid, WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), code);
}

void
test_child_expect_signal(pid_t pid, int sig, unsigned timeout_s)
{
	int status = test_child_wait(pid, timeout_s);

	if (!WIFSIGNALED(status))
		print_error("child %d exited with %d\n", (int)pid, WEXITSTATUS(status));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), sig);
}
