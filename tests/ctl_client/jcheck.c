/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jcheck.h"

#define JCHECK_DEPTH_MAX 64

struct parser {
	const char *p, *end;
};

static int value_parse(struct parser *ps, struct jcheck *out, unsigned depth);

static void
blanks(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int
lit(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return -1;
	ps->p += n;
	return 0;
}

static int
hex4(struct parser *ps, uint32_t *out)
{
	uint32_t v = 0;

	if (ps->end - ps->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void
utf8_put(char **o, uint32_t cp)
{
	char *q = *o;

	if (cp < 0x80) {
		*q++ = (char)cp;
	} else if (cp < 0x800) {
		*q++ = (char)(0xc0 | cp >> 6);
		*q++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*q++ = (char)(0xe0 | cp >> 12);
		*q++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*q++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*q++ = (char)(0xf0 | cp >> 18);
		*q++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*q++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*q++ = (char)(0x80 | (cp & 0x3f));
	}
	*o = q;
}

static int
string_parse(struct parser *ps, char **out)
{
	char *buf, *o;

	if (ps->p >= ps->end || *ps->p != '"')
		return -1;
	ps->p++;
	/* Decoded text is never longer than what is left of the input. */
	buf = malloc((size_t)(ps->end - ps->p) + 1);
	if (buf == NULL)
		return -1;
	o = buf;
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;
		uint32_t cp, lo;

		if (c < 0x20)
			goto fail;
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		if (ps->p >= ps->end)
			goto fail;
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"': case '\\': case '/': *o++ = (char)c; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (hex4(ps, &cp) != 0)
				goto fail;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (lit(ps, "\\u") != 0 || hex4(ps, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
					goto fail;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				goto fail;
			}
			if (cp == 0)
				goto fail;   /* the tests' strings are C strings */
			utf8_put(&o, cp);
			break;
		default:
			goto fail;
		}
	}
	if (ps->p >= ps->end)
		goto fail;
	ps->p++;
	*o = '\0';
	*out = buf;
	return 0;
fail:
	free(buf);
	return -1;
}

static int
digits(struct parser *ps)
{
	const char *start = ps->p;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		ps->p++;
	return ps->p > start ? 0 : -1;
}

static int
number_parse(struct parser *ps, struct jcheck *out)
{
	const char *start = ps->p;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0')
		ps->p++;
	else if (digits(ps) != 0)
		return -1;
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (digits(ps) != 0)
			return -1;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (digits(ps) != 0)
			return -1;
	}
	out->type = JC_NUM;
	out->text = strndup(start, (size_t)(ps->p - start));
	return out->text != NULL ? 0 : -1;
}

static int
member_add(struct jcheck *out, char *key)
{
	struct jcheck *v = realloc(out->v, (out->n + 1) * sizeof(*v));
	char **k;

	if (v == NULL)
		return -1;
	out->v = v;
	memset(&v[out->n], 0, sizeof(v[0]));
	if (out->type == JC_OBJ) {
		k = realloc(out->k, (out->n + 1) * sizeof(*k));
		if (k == NULL)
			return -1;
		out->k = k;
		k[out->n] = key;
	}
	out->n++;
	return 0;
}

static int
container_parse(struct parser *ps, struct jcheck *out, unsigned depth)
{
	char close = *ps->p == '{' ? '}' : ']';

	out->type = close == '}' ? JC_OBJ : JC_ARR;
	ps->p++;
	blanks(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		return 0;
	}
	for (;;) {
		char *key = NULL;

		blanks(ps);
		if (out->type == JC_OBJ) {
			if (string_parse(ps, &key) != 0)
				return -1;
			blanks(ps);
			if (ps->p >= ps->end || *ps->p != ':' || member_add(out, key) != 0) {
				free(key);
				return -1;
			}
			ps->p++;
		} else if (member_add(out, NULL) != 0) {
			return -1;
		}
		if (value_parse(ps, &out->v[out->n - 1], depth + 1) != 0)
			return -1;
		blanks(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			return 0;
		}
		return -1;
	}
}

static int
value_parse(struct parser *ps, struct jcheck *out, unsigned depth)
{
	blanks(ps);
	if (ps->p >= ps->end || depth > JCHECK_DEPTH_MAX)
		return -1;
	switch (*ps->p) {
	case '{':
	case '[':
		return container_parse(ps, out, depth);
	case '"':
		out->type = JC_STR;
		return string_parse(ps, &out->text);
	case 't':
		out->type = JC_BOOL;
		out->b = 1;
		return lit(ps, "true");
	case 'f':
		out->type = JC_BOOL;
		return lit(ps, "false");
	case 'n':
		out->type = JC_NULL;
		return lit(ps, "null");
	default:
		return number_parse(ps, out);
	}
}

static void
value_free(struct jcheck *v)
{
	for (size_t i = 0; i < v->n; i++) {
		value_free(&v->v[i]);
		if (v->k != NULL)
			free(v->k[i]);
	}
	free(v->v);
	free(v->k);
	free(v->text);
}

struct jcheck *
jcheck_parse(const char *s, size_t len)
{
	struct parser ps = { s, s + len };
	struct jcheck *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	if (value_parse(&ps, v, 0) != 0)
		goto fail;
	blanks(&ps);
	if (ps.p != ps.end)
		goto fail;
	return v;
fail:
	jcheck_free(v);
	return NULL;
}

void
jcheck_free(struct jcheck *v)
{
	if (v == NULL)
		return;
	value_free(v);
	free(v);
}

const struct jcheck *
jcheck_get(const struct jcheck *v, const char *path)
{
	while (v != NULL && *path != '\0') {
		size_t len = strcspn(path, ".");
		const struct jcheck *next = NULL;

		if (v->type == JC_OBJ) {
			for (size_t i = 0; i < v->n && next == NULL; i++) {
				if (strlen(v->k[i]) == len && memcmp(v->k[i], path, len) == 0)
					next = &v->v[i];
			}
		} else if (v->type == JC_ARR) {
			char *end;
			unsigned long i = strtoul(path, &end, 10);

			if (end == path + len && i < v->n)
				next = &v->v[i];
		}
		v = next;
		path += len + (path[len] == '.');
	}
	return v;
}

const char *
jcheck_str(const struct jcheck *v, const char *path)
{
	const struct jcheck *x = jcheck_get(v, path);

	return x != NULL && x->type == JC_STR ? x->text : NULL;
}

const char *
jcheck_num(const struct jcheck *v, const char *path)
{
	const struct jcheck *x = jcheck_get(v, path);

	return x != NULL && x->type == JC_NUM ? x->text : NULL;
}
