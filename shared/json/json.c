/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>

#include "mpdp_json.h"

void
mpdp_json_strn(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void
mpdp_json_str(FILE *f, const char *s)
{
	mpdp_json_strn(f, s, strlen(s));
}
