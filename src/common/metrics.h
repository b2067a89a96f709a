/*
 * metrics.h - process-wide request counters and latency histograms, and
 * their Prometheus text rendering (GET /metrics).
 *
 * Any thread may record; one mutex guards the tables (a request costs
 * milliseconds, a record a few hundred nanoseconds). Labels are bounded by
 * construction: callers pass a protocol ("kmip", "kmip_json", "http"), an
 * operation name from a fixed table (KMIP operation names, route labels)
 * and a kh_err; series beyond KH_METRICS_MAX_SERIES are folded into one
 * "other" series instead of growing. Gauges belong to whoever owns the
 * state (net/ knows its connections and queue) and are passed in at render
 * time.
 */
#ifndef KH_COMMON_METRICS_H
#define KH_COMMON_METRICS_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define KH_METRICS_MAX_SERIES 512
#define KH_METRICS_MAX_PROTOCOLS 8

/* One request (or KMIP batch item) of protocol/operation ended with result
 * (KH_OK = "success", otherwise kh_err_name). operation NULL = "none". */
void kh_metrics_count(const char *protocol, const char *operation, kh_err result);
/* One message of protocol took seconds to answer. */
void kh_metrics_observe(const char *protocol, double seconds);

/* Monotonic seconds, for measuring latencies. */
double kh_metrics_now(void);

typedef struct kh_metrics_gauges {
    unsigned kmip_connections;  /* open KMIP (binary) connections */
    unsigned https_connections; /* open HTTPS connections */
    size_t queue_depth;         /* requests waiting for a worker */
} kh_metrics_gauges;

/* Append the Prometheus text exposition (format 0.0.4) of everything
 * recorded so far plus g to out. */
void kh_metrics_render(const kh_metrics_gauges *g, kh_buf *out);

/* Forget everything recorded (tests). */
void kh_metrics_reset(void);

#endif
