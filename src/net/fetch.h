/*
 * fetch.h - outbound HTTP(S) GET of a small document (libcurl), for the
 * JWKS of a JWT issuer.
 *
 * HTTPS with certificate and host name verification, TLS 1.2 or newer, no
 * redirects, a size limit and timeouts. Plain http:// only when the caller
 * allows it explicitly (tests and loopback issuers). Blocking: call it on
 * a worker thread or at start-up, never on the I/O thread.
 */
#ifndef KH_NET_FETCH_H
#define KH_NET_FETCH_H

#include "common/buf.h"
#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct kh_fetch_opts {
    const char *ca_file; /* PEM CAs to trust; NULL = the system's */
    bool allow_http;     /* accept http:// URLs */
    size_t max_bytes;    /* larger bodies fail with KH_ERR_TOO_LARGE */
    unsigned timeout_s;  /* whole transfer, connection included */
} kh_fetch_opts;

/* Process-wide libcurl set-up: call once from the main thread before any
 * worker runs kh_fetch_get. Idempotent. */
kh_err kh_fetch_global_init(void) KH_MUST_CHECK;

/* GET url into out (appended). Anything but a 200 answer is KH_ERR_IO
 * (logged with the reason, the URL and curl's message). */
kh_err kh_fetch_get(const char *url, const kh_fetch_opts *o, kh_buf *out) KH_MUST_CHECK;

#endif
