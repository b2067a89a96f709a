/*
 * metrics.c - the counter and histogram tables behind metrics.h and their
 * Prometheus rendering. Not a general metrics library: the label sets are
 * fixed, storage is static and bounded, lookups are linear (a few hundred
 * series at most).
 */
#include "common/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LABEL_MAX 40

/* Prometheus' default buckets, in seconds. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

typedef struct series {
    char protocol[LABEL_MAX];
    char operation[LABEL_MAX];
    kh_err result;
    uint64_t count;
} series;

typedef struct histogram {
    char protocol[LABEL_MAX];
    uint64_t le[NBUCKETS]; /* non-cumulative per bucket; rendered cumulative */
    uint64_t count;
    double sum;
} histogram;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static series counters[KH_METRICS_MAX_SERIES];
static size_t ncounters;
static histogram hists[KH_METRICS_MAX_PROTOCOLS];
static size_t nhists;

static void set_label(char dst[LABEL_MAX], const char *src)
{
    snprintf(dst, LABEL_MAX, "%s", src);
}

/* Called with mu held. The last slot is the catch-all "other" series. */
static series *find_series(const char *protocol, const char *operation, kh_err result)
{
    for (size_t i = 0; i < ncounters; i++) {
        series *s = &counters[i];
        if (s->result == result && strncmp(s->protocol, protocol, LABEL_MAX - 1) == 0 &&
            strncmp(s->operation, operation, LABEL_MAX - 1) == 0)
            return s;
    }
    if (ncounters == KH_METRICS_MAX_SERIES - 1) {
        series *s = &counters[ncounters++];
        set_label(s->protocol, "other");
        set_label(s->operation, "other");
        s->result = KH_ERR_INTERNAL;
    }
    if (ncounters == KH_METRICS_MAX_SERIES)
        return &counters[KH_METRICS_MAX_SERIES - 1];
    series *s = &counters[ncounters++];
    set_label(s->protocol, protocol);
    set_label(s->operation, operation);
    s->result = result;
    return s;
}

void kh_metrics_count(const char *protocol, const char *operation, kh_err result)
{
    pthread_mutex_lock(&mu);
    find_series(protocol ? protocol : "none", operation ? operation : "none", result)->count++;
    pthread_mutex_unlock(&mu);
}

void kh_metrics_observe(const char *protocol, double seconds)
{
    pthread_mutex_lock(&mu);
    histogram *h = NULL;
    for (size_t i = 0; i < nhists && !h; i++)
        if (strncmp(hists[i].protocol, protocol, LABEL_MAX - 1) == 0)
            h = &hists[i];
    if (!h && nhists < KH_METRICS_MAX_PROTOCOLS) {
        h = &hists[nhists++];
        set_label(h->protocol, protocol);
    }
    if (h) {
        size_t b = 0;
        while (b < NBUCKETS && seconds > buckets[b])
            b++;
        if (b < NBUCKETS)
            h->le[b]++;
        h->count++;
        h->sum += seconds > 0 ? seconds : 0;
    }
    pthread_mutex_unlock(&mu);
}

double kh_metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 2, 3))) static void put(kh_buf *out, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        kh_buf_append(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void render_counters(kh_buf *out)
{
    put(out, "# HELP keyhold_requests_total Requests (KMIP: batch items) by protocol, "
             "operation and result.\n# TYPE keyhold_requests_total counter\n");
    for (size_t i = 0; i < ncounters; i++) {
        const series *s = &counters[i];
        put(out, "keyhold_requests_total{protocol=\"%s\",operation=\"%s\",result=\"%s\"} %llu\n",
            s->protocol, s->operation, s->result == KH_OK ? "success" : kh_err_name(s->result),
            (unsigned long long)s->count);
    }
}

static void render_histograms(kh_buf *out)
{
    put(out, "# HELP keyhold_request_duration_seconds Time to answer one message, by "
             "protocol.\n# TYPE keyhold_request_duration_seconds histogram\n");
    for (size_t i = 0; i < nhists; i++) {
        const histogram *h = &hists[i];
        uint64_t cum = 0;
        for (size_t b = 0; b < NBUCKETS; b++) {
            cum += h->le[b];
            put(out, "keyhold_request_duration_seconds_bucket{protocol=\"%s\",le=\"%g\"} %llu\n",
                h->protocol, buckets[b], (unsigned long long)cum);
        }
        put(out, "keyhold_request_duration_seconds_bucket{protocol=\"%s\",le=\"+Inf\"} %llu\n",
            h->protocol, (unsigned long long)h->count);
        put(out, "keyhold_request_duration_seconds_sum{protocol=\"%s\"} %.6f\n", h->protocol,
            h->sum);
        put(out, "keyhold_request_duration_seconds_count{protocol=\"%s\"} %llu\n", h->protocol,
            (unsigned long long)h->count);
    }
}

void kh_metrics_render(const kh_metrics_gauges *g, kh_buf *out)
{
    pthread_mutex_lock(&mu);
    render_counters(out);
    render_histograms(out);
    pthread_mutex_unlock(&mu);
    put(out, "# HELP keyhold_open_connections Open client connections, by listener.\n"
             "# TYPE keyhold_open_connections gauge\n");
    put(out, "keyhold_open_connections{listener=\"kmip\"} %u\n", g->kmip_connections);
    put(out, "keyhold_open_connections{listener=\"https\"} %u\n", g->https_connections);
    put(out,
        "# HELP keyhold_worker_queue_depth Requests waiting for a worker thread.\n"
        "# TYPE keyhold_worker_queue_depth gauge\nkeyhold_worker_queue_depth %zu\n",
        g->queue_depth);
}

void kh_metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    memset(counters, 0, sizeof(counters));
    memset(hists, 0, sizeof(hists));
    ncounters = nhists = 0;
    pthread_mutex_unlock(&mu);
}
