/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Logging with per-component levels and a pluggable sink.
 *
 * Call sites use MPDP_LOG(LEVEL, fmt, ...); meson defines MPDP_LOG_COMPONENT
 * for each library and program, so the component is implicit. The sink and
 * the level table are the process's own (the one allowed global). Nothing on
 * the data path logs: it counts.
 */
#ifndef MPDP_LOG_H
#define MPDP_LOG_H

#include <stdarg.h>

/** Levels, most severe first. */
enum mpdp_log_level {
	MPDP_LOG_ERR = 0,
	MPDP_LOG_WARN,
	MPDP_LOG_NOTICE,
	MPDP_LOG_INFO,
	MPDP_LOG_DEBUG,
	MPDP_LOG_LEVEL_N_,
};

/** A sink receives one formatted line (without a trailing newline). */
typedef void mpdp_log_sink_fn(void *arg, enum mpdp_log_level level,
			      const char *component, const char *msg);

/**
 * Emit one line when @p level is enabled for @p component.
 *
 * @param level  severity
 * @param component  short module or program name
 * @param fmt  printf format
 */
void mpdp_log(enum mpdp_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** As mpdp_log() with a va_list. */
void mpdp_log_v(enum mpdp_log_level level, const char *component, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/**
 * Replace the sink (default: stderr as "mpdp[component]: LEVEL: msg").
 *
 * @param fn  new sink, or NULL to restore the default
 * @param arg  passed to @p fn
 */
void mpdp_log_set_sink(mpdp_log_sink_fn *fn, void *arg);

/**
 * Set the level of one component, or of all when @p component is NULL or "*".
 *
 * @return 0, -EINVAL for a bad level, -ENOSPC when too many components have levels
 */
int mpdp_log_set_level(const char *component, enum mpdp_log_level level);

/** @return whether @p level is enabled for @p component. */
int mpdp_log_enabled(enum mpdp_log_level level, const char *component);

/**
 * Parse a level name ("err", "warn", "notice", "info", "debug").
 *
 * @return 0 and sets *out, or -EINVAL
 */
int mpdp_log_level_parse(const char *s, enum mpdp_log_level *out);

/** @return the level's name. */
const char *mpdp_log_level_name(enum mpdp_log_level level);

struct mpdp_errbuf;

/**
 * Apply a --log-level argument: "LEVEL" for every component, or
 * "COMPONENT:LEVEL".
 *
 * @return 0, or -EINVAL with the reason in @p eb
 */
int mpdp_log_set_from_arg(const char *arg, struct mpdp_errbuf *eb);

#ifndef MPDP_LOG_COMPONENT
#define MPDP_LOG_COMPONENT "mpdp"
#endif

/** Log at MPDP_LOG_<level> under this file's component. */
#define MPDP_LOG(level, ...) mpdp_log(MPDP_LOG_##level, MPDP_LOG_COMPONENT, __VA_ARGS__)

#endif /* MPDP_LOG_H */
