/* SPDX-License-Identifier: BSD-3-Clause */
/* Splitting a line into words the way a shell does (quotes, backslashes, comments). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mpdpctl.h"

/* A word being built. */
struct word_buf {
	char *s;
	size_t len, cap;
};

static int
word_putc(struct word_buf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		char *s = realloc(b->s, cap);

		if (s == NULL)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
	return 0;
}

/* Hand the word over to @p words; the buffer starts afresh. */
static int
word_end(struct word_buf *b, struct mpdpctl_words *words)
{
	if (b->s == NULL && word_putc(b, 'x') == 0)
		b->s[b->len = 0] = '\0';
	if (b->s == NULL)
		return -ENOMEM;
	if (words->n == words->cap) {
		size_t cap = words->cap ? words->cap * 2 : 8;
		char **w = realloc(words->w, cap * sizeof(*w));

		if (w == NULL)
			return -ENOMEM;
		words->w = w;
		words->cap = cap;
	}
	words->w[words->n++] = b->s;
	memset(b, 0, sizeof(*b));
	return 0;
}

int
mpdpctl_split(const char *line, int partial, struct mpdpctl_words *words, char *quote,
	      struct mpdp_errbuf *eb)
{
	struct word_buf b = { 0 };
	int in_word = 0, rc = 0;
	char q = 0;

	for (const char *p = line; *p != '\0' && rc == 0; p++) {
		char c = *p;

		if (q == '\'') {
			if (c == '\'')
				q = 0;
			else
				rc = word_putc(&b, c);
		} else if (q == '"') {
			if (c == '"')
				q = 0;
			else if (c == '\\' && p[1] != '\0' && strchr("\"\\$`", p[1]) != NULL)
				rc = word_putc(&b, *++p);
			else
				rc = word_putc(&b, c);
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (in_word)
				rc = word_end(&b, words);
			in_word = 0;
		} else if (c == '#' && !in_word) {
			break;
		} else {
			in_word = 1;
			if (c == '\'' || c == '"')
				q = c;
			else if (c == '\\' && p[1] != '\0')
				rc = word_putc(&b, *++p);
			else
				rc = word_putc(&b, c);
		}
	}
	if (rc == 0 && q != 0 && !partial)
		rc = mpdp_err_set(eb, -EINVAL, "unterminated %s quote", q == '"' ? "double" : "single");
	/* Completion wants the word under the cursor, even an empty one. */
	if (rc == 0 && (in_word || partial))
		rc = word_end(&b, words);
	free(b.s);
	if (quote != NULL)
		*quote = q;
	if (rc != 0)
		mpdpctl_words_free(words);
	if (rc == -ENOMEM)
		mpdp_err_set(eb, rc, "out of memory");
	return rc;
}

void
mpdpctl_words_free(struct mpdpctl_words *words)
{
	for (size_t i = 0; i < words->n; i++)
		free(words->w[i]);
	free(words->w);
	memset(words, 0, sizeof(*words));
}
