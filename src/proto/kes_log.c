/*
 * kes_log.c - KES's log streams: /v1/log/audit (one event per KES call)
 * and /v1/log/error (keyhold's warnings and errors), as NDJSON over an
 * open-ended reply (net/http.h, kh_http_publish). Events are built only
 * while someone listens.
 */
#include "proto/kes.h"
#include "proto/kes_internal.h"

#include "proto/http_routes.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* /v1/log/audit and /v1/log/error: an NDJSON stream from now on. On the
 * HTTPS listener, which has no policies, only the single-user admin. */
void kh_kes_reply_log(const kh_kes_policies *pol, const char *principal, int topic,
                      kh_http_reply *r)
{
    if (!pol && strcmp(principal, KH_HTTP_DEFAULT_PRINCIPAL) != 0) {
        kh_kes_fail(r, 403, KH_ERR_PERMISSION, "not authorized: insufficient permissions");
        return;
    }
    r->status = 200;
    r->result = KH_OK;
    r->content_type = "application/x-ndjson";
    r->stream = topic;
}

static void now_rfc3339(char out[40])
{
    struct timespec ts;
    struct tm tm;
    char s[24];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03ldZ", s, ts.tv_nsec / 1000000L);
}

/* One KES audit event, as KES streams them:
 * {"time", "request": {"ip", "path", "identity"}, "response": {"code", "time"}}
 * with the response time in nanoseconds. */
void kh_kes_publish_audit(const kh_http_request *req, const char *principal, int status, int64_t ns)
{
    kh_buf b = {0};
    char when[40], tail[64];
    now_rfc3339(when);
    kh_buf_append(&b, "{\"time\":", 8);
    kh_kes_append_str(&b, when);
    kh_buf_append(&b, ",\"request\":{\"ip\":", 17);
    char ip[sizeof(req->peer.addr)];
    snprintf(ip, sizeof(ip), "%s", req->peer.addr);
    char *colon = strrchr(ip, ':'); /* "ip:port" or "[v6]:port" */
    if (colon)
        *colon = '\0';
    kh_kes_append_str(&b, ip);
    kh_buf_append(&b, ",\"path\":", 8);
    kh_kes_append_str(&b, req->path);
    kh_buf_append(&b, ",\"identity\":", 12);
    kh_kes_append_str(&b, principal);
    int n = snprintf(tail, sizeof(tail), "},\"response\":{\"code\":%d,\"time\":%lld}}\n",
                     status ? status : 500, (long long)ns);
    kh_buf_append(&b, tail, (size_t)n);
    kh_http_publish(KH_HTTP_STREAM_AUDIT, (const char *)b.data, b.len);
    kh_buf_free(&b);
}

void kh_kes_log_tap(kh_log_level lvl, const char *msg)
{
    (void)lvl;
    if (!kh_http_stream_wanted(KH_HTTP_STREAM_ERROR))
        return;
    kh_buf b = {0};
    kh_buf_append(&b, "{\"message\":", 11);
    kh_kes_append_str(&b, msg);
    kh_buf_append(&b, "}\n", 2);
    kh_http_publish(KH_HTTP_STREAM_ERROR, (const char *)b.data, b.len);
    kh_buf_free(&b);
}
