/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mpdp_err.h"
#include "mpdp_log.h"

#define LOG_COMPONENTS_MAX 32
#define LOG_LINE_MAX 1024

static const char *const level_names[MPDP_LOG_LEVEL_N_] = {
	"err", "warn", "notice", "info", "debug",
};

/* The process's logging state: the one global the house style allows. */
static struct {
	pthread_mutex_t lock;
	mpdp_log_sink_fn *sink;
	void *sink_arg;
	enum mpdp_log_level default_level;
	unsigned n;
	struct {
		char name[32];
		enum mpdp_log_level level;
	} comp[LOG_COMPONENTS_MAX];
} log_state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.default_level = MPDP_LOG_NOTICE,
};

static void
stderr_sink(void *arg, enum mpdp_log_level level, const char *component, const char *msg)
{
	(void)arg;
	fprintf(stderr, "mpdp[%s]: %s: %s\n", component, level_names[level], msg);
}

int
mpdp_log_enabled(enum mpdp_log_level level, const char *component)
{
	enum mpdp_log_level max;

	pthread_mutex_lock(&log_state.lock);
	max = log_state.default_level;
	for (unsigned i = 0; i < log_state.n; i++) {
		if (strcmp(log_state.comp[i].name, component) == 0) {
			max = log_state.comp[i].level;
			break;
		}
	}
	pthread_mutex_unlock(&log_state.lock);
	return level <= max;
}

void
mpdp_log_v(enum mpdp_log_level level, const char *component, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	mpdp_log_sink_fn *sink;
	void *arg;

	if ((unsigned)level >= MPDP_LOG_LEVEL_N_ || !mpdp_log_enabled(level, component))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	pthread_mutex_lock(&log_state.lock);
	sink = log_state.sink ? log_state.sink : stderr_sink;
	arg = log_state.sink_arg;
	pthread_mutex_unlock(&log_state.lock);
	sink(arg, level, component, line);
}

void
mpdp_log(enum mpdp_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mpdp_log_v(level, component, fmt, ap);
	va_end(ap);
}

void
mpdp_log_set_sink(mpdp_log_sink_fn *fn, void *arg)
{
	pthread_mutex_lock(&log_state.lock);
	log_state.sink = fn;
	log_state.sink_arg = arg;
	pthread_mutex_unlock(&log_state.lock);
}

int
mpdp_log_set_level(const char *component, enum mpdp_log_level level)
{
	int rc = 0;

	if ((unsigned)level >= MPDP_LOG_LEVEL_N_)
		return -EINVAL;
	pthread_mutex_lock(&log_state.lock);
	if (component == NULL || strcmp(component, "*") == 0) {
		log_state.default_level = level;
		for (unsigned i = 0; i < log_state.n; i++)
			log_state.comp[i].level = level;
		goto out;
	}
	for (unsigned i = 0; i < log_state.n; i++) {
		if (strcmp(log_state.comp[i].name, component) == 0) {
			log_state.comp[i].level = level;
			goto out;
		}
	}
	if (log_state.n == LOG_COMPONENTS_MAX || strlen(component) >= sizeof(log_state.comp[0].name)) {
		rc = -ENOSPC;
		goto out;
	}
	snprintf(log_state.comp[log_state.n].name, sizeof(log_state.comp[0].name), "%s", component);
	log_state.comp[log_state.n].level = level;
	log_state.n++;
out:
	pthread_mutex_unlock(&log_state.lock);
	return rc;
}

int
mpdp_log_level_parse(const char *s, enum mpdp_log_level *out)
{
	for (unsigned i = 0; i < MPDP_LOG_LEVEL_N_; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum mpdp_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
mpdp_log_level_name(enum mpdp_log_level level)
{
	return (unsigned)level < MPDP_LOG_LEVEL_N_ ? level_names[level] : "?";
}

int
mpdp_log_set_from_arg(const char *arg, struct mpdp_errbuf *eb)
{
	char comp[64] = "*";
	const char *colon = strchr(arg, ':'), *lvl = arg;
	enum mpdp_log_level level;

	if (colon != NULL) {
		if ((size_t)(colon - arg) >= sizeof(comp) || colon == arg)
			return mpdp_err_set(eb, -EINVAL, "--log-level %s: bad component", arg);
		memcpy(comp, arg, (size_t)(colon - arg));
		comp[colon - arg] = '\0';
		lvl = colon + 1;
	}
	if (mpdp_log_level_parse(lvl, &level) != 0)
		return mpdp_err_set(eb, -EINVAL, "--log-level %s: level must be err, warn, notice, info or debug", arg);
	return mpdp_log_set_level(comp, level) == 0 ? 0 :
	       mpdp_err_set(eb, -EINVAL, "--log-level %s: too many components", arg);
}
