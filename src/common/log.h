/*
 * log.h - leveled logging to stderr, one line per call.
 *
 * Never pass key material or request bytes to these functions: log what
 * happened (operation, uid, principal, result), not what was carried.
 */
#ifndef KH_COMMON_LOG_H
#define KH_COMMON_LOG_H

typedef enum kh_log_level {
    KH_LOG_DEBUG = 0,
    KH_LOG_INFO = 1,
    KH_LOG_WARN = 2,
    KH_LOG_ERROR = 3,
} kh_log_level;

void kh_log_set_level(kh_log_level lvl);
kh_log_level kh_log_get_level(void);
void kh_log(kh_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Also hand every warn and error line (the message, without time or
 * level) to tap, from the logging thread; set once before threads start.
 * tap must not log. NULL = none. */
void kh_log_set_tap(void (*tap)(kh_log_level lvl, const char *msg));

#define kh_debug(...) kh_log(KH_LOG_DEBUG, __VA_ARGS__)
#define kh_info(...) kh_log(KH_LOG_INFO, __VA_ARGS__)
#define kh_warn(...) kh_log(KH_LOG_WARN, __VA_ARGS__)
#define kh_error(...) kh_log(KH_LOG_ERROR, __VA_ARGS__)

#endif
