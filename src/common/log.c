/*
 * log.c - leveled logging; one fprintf per line so threads do not interleave.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static volatile kh_log_level min_level = KH_LOG_INFO;
static void (*log_tap)(kh_log_level lvl, const char *msg);

void kh_log_set_tap(void (*tap)(kh_log_level lvl, const char *msg))
{
    log_tap = tap;
}

void kh_log_set_level(kh_log_level lvl)
{
    min_level = lvl;
}

kh_log_level kh_log_get_level(void)
{
    return min_level;
}

void kh_log(kh_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < min_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s\n", when, ts.tv_nsec / 1000000L, names[lvl & 3], msg);
    if (log_tap && lvl >= KH_LOG_WARN)
        log_tap(lvl, msg);
}
