/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpdp_proc.h"

int
mpdp_proc_start_time(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	/* The command name may hold spaces and ')': fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL)
		return -EPROTO;
	/* After ')' comes field 3, the state: a zombie has finished running. */
	if (p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return -ENOENT;
	/* The start time is field 22. */
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (p == NULL)
			return -EPROTO;
	}
	errno = 0;
	*out = strtoull(p + 1, NULL, 10);
	return errno ? -EPROTO : 0;
}

int
mpdp_proc_alive(pid_t pid, uint64_t start_time)
{
	uint64_t t;

	if (pid <= 0 || mpdp_proc_start_time(pid, &t) != 0)
		return 0;
	return start_time == 0 || t == start_time;
}
