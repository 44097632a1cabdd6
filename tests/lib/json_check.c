/* SPDX-License-Identifier: BSD-3-Clause */
/* A recursive-descent JSON checker (RFC 8259 grammar), depth-bounded. */
#include "json_check.h"

#include <string.h>

struct jc {
	const char *p, *end;
	unsigned depth;
};

static void
blanks(struct jc *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int
lit(struct jc *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return 0;
	j->p += n;
	return 1;
}

static int
digits(struct jc *j)
{
	const char *s = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > s;
}

static int
number(struct jc *j)
{
	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (!digits(j))
		return 0;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!digits(j))
			return 0;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digits(j))
			return 0;
	}
	return 1;
}

static int
string(struct jc *j)
{
	if (j->p >= j->end || *j->p != '"')
		return 0;
	for (j->p++; j->p < j->end; j->p++) {
		unsigned char c = (unsigned char)*j->p;

		if (c == '"') {
			j->p++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c != '\\')
			continue;
		if (++j->p >= j->end)
			return 0;
		if (*j->p == 'u') {
			for (int k = 0; k < 4; k++) {
				if (++j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p))
					return 0;
			}
		} else if (!strchr("\"\\/bfnrt", *j->p)) {
			return 0;
		}
	}
	return 0;
}

static int value(struct jc *j);

static int
items(struct jc *j, char close, int keyed)
{
	j->p++;
	blanks(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 1;
	}
	for (;;) {
		blanks(j);
		if (keyed) {
			if (!string(j))
				return 0;
			blanks(j);
			if (j->p >= j->end || *j->p++ != ':')
				return 0;
		}
		if (!value(j))
			return 0;
		blanks(j);
		if (j->p >= j->end)
			return 0;
		if (*j->p == close) {
			j->p++;
			return 1;
		}
		if (*j->p++ != ',')
			return 0;
	}
}

static int
value(struct jc *j)
{
	int ok;

	blanks(j);
	if (j->p >= j->end || j->depth > 64)
		return 0;
	switch (*j->p) {
	case '{':
	case '[':
		j->depth++;
		ok = items(j, *j->p == '{' ? '}' : ']', *j->p == '{');
		j->depth--;
		return ok;
	case '"':
		return string(j);
	case 't':
		return lit(j, "true");
	case 'f':
		return lit(j, "false");
	case 'n':
		return lit(j, "null");
	default:
		return number(j);
	}
}

int
json_check(const char *s, size_t len)
{
	struct jc j = { s, s + len, 0 };

	if (s == NULL || !value(&j))
		return 0;
	blanks(&j);
	return j.p == j.end;
}
