/* SPDX-License-Identifier: BSD-3-Clause */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpdp_parse.h"

int
mpdp_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s == '\0' || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int
mpdp_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return errno == ERANGE ? -ERANGE : -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: return -EINVAL;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int
mpdp_kvargs_parse(const char *s, struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	char *save = NULL, *tok;

	memset(kv, 0, sizeof(*kv));
	if (strlen(s) >= sizeof(kv->buf))
		return mpdp_err_set(eb, -E2BIG, "'%s' is longer than %zu characters", s, sizeof(kv->buf) - 1);
	strcpy(kv->buf, s);
	if (kv->buf[0] == '\0' || kv->buf[0] == ',' || kv->buf[0] == '=')
		return mpdp_err_set(eb, -EINVAL, "'%s' does not start with a name", s);
	tok = strtok_r(kv->buf, ",", &save);
	if (strchr(tok, '=') != NULL)
		return mpdp_err_set(eb, -EINVAL, "'%s' does not start with a name (found '%s')", s, tok);
	kv->name = tok;
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		char *eq = strchr(tok, '=');

		if (kv->n == MPDP_KVARGS_MAX)
			return mpdp_err_set(eb, -E2BIG, "'%s' has more than %d keys", s, MPDP_KVARGS_MAX);
		if (eq == tok)
			return mpdp_err_set(eb, -EINVAL, "'%s': empty key before '='", s);
		if (eq != NULL)
			*eq = '\0';
		for (unsigned i = 0; i < kv->n; i++) {
			if (strcmp(kv->kv[i].key, tok) == 0)
				return mpdp_err_set(eb, -EINVAL, "'%s': key '%s' given twice", s, tok);
		}
		kv->kv[kv->n].key = tok;
		kv->kv[kv->n].value = eq != NULL ? eq + 1 : NULL;
		kv->n++;
	}
	return 0;
}

int
mpdp_kvargs_get(struct mpdp_kvargs *kv, const char *key)
{
	for (unsigned i = 0; i < kv->n; i++) {
		if (strcmp(kv->kv[i].key, key) == 0) {
			kv->kv[i].used = 1;
			return (int)i;
		}
	}
	return -ENOENT;
}

int
mpdp_kvargs_check_unused(const struct mpdp_kvargs *kv, struct mpdp_errbuf *eb)
{
	for (unsigned i = 0; i < kv->n; i++) {
		if (!kv->kv[i].used)
			return mpdp_err_set(eb, -EINVAL, "%s: unknown key '%s'", kv->name, kv->kv[i].key);
	}
	return 0;
}
