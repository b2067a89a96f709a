/*
 * http.h - the HTTPS listener: HTTP/1.1 (libevent's evhttp) over TLS, on the
 * same event loop and worker pool as the KMIP listener.
 *
 * Like the KMIP listener it knows nothing of routes or payloads: a
 * kh_http_handler decides. route() runs on the I/O thread for every
 * complete request and either answers at once (cheap, non-blocking
 * answers: errors, /health, /metrics) or asks for a worker, where handle()
 * runs; the reply goes back to the I/O thread through the server's
 * completion list. When the worker queue is full the listener answers with
 * error(KH_ERR_BUSY). Bodies are bounded by the server's max_message
 * (larger ones get 413 from evhttp), headers by KH_HTTP_MAX_HEADERS; a
 * request must arrive completely within read_timeout_s of its first byte
 * (or of the connection's start, for the first one), and an idle
 * keep-alive connection is closed after idle_timeout_s.
 */
#ifndef KH_NET_HTTP_H
#define KH_NET_HTTP_H

#include "common/buf.h"
#include "common/err.h"
#include "common/metrics.h"
#include "net/server.h"

#include <stdbool.h>

#define KH_HTTP_MAX_HEADERS (16 * 1024) /* request line + headers, bytes */
#define KH_HTTP_PATH_MAX 512
#define KH_HTTP_CTYPE_MAX 128
#define KH_HTTP_AUTHZ_MAX 8192 /* Authorization header (a JWT may be long) */
#define KH_HTTP_FWD_MAX 256    /* X-Forwarded-For */

typedef enum kh_http_method {
    KH_HTTP_OTHER = 0,
    KH_HTTP_GET,
    KH_HTTP_HEAD,
    KH_HTTP_POST,
    KH_HTTP_PUT,
    KH_HTTP_DELETE,
    KH_HTTP_PATCH,
    KH_HTTP_OPTIONS,
} kh_http_method;

typedef struct kh_http_request {
    kh_http_method method;
    char path[KH_HTTP_PATH_MAX];          /* without the query; "" if longer */
    char content_type[KH_HTTP_CTYPE_MAX]; /* "" when absent or longer */
    /* Headers that authentication (proto/authn.h) reads; "" when absent or
     * longer than the buffer. Only what the peer sent: whether to believe
     * the X-Forwarded-* ones is authn's decision. */
    char authorization[KH_HTTP_AUTHZ_MAX];
    bool authorization_oversized;        /* sent, but too long for the buffer */
    char forwarded_for[KH_HTTP_FWD_MAX]; /* X-Forwarded-For */
    char forwarded_proto[16];            /* X-Forwarded-Proto */
    kh_buf body;                         /* a copy, wiped when freed */
    kh_peer peer;                        /* principal "" = no client certificate */
    kh_metrics_gauges gauges;            /* server state when the request arrived */
} kh_http_request;

typedef struct kh_http_reply {
    int status;               /* 0 = 500 */
    const char *content_type; /* static string; NULL = application/json */
    const char *allow;        /* static Allow header value, or NULL */
    const char *accept;       /* static Accept header value (KES's 405), or NULL */
    const char *label;        /* static route label for metrics; NULL = "unknown" */
    kh_err result;            /* for metrics: KH_OK or why it failed */
    kh_buf body;
    /* Non-zero: an open-ended reply. The listener sends the status and
     * headers (and body, if any) and keeps the connection, writing every
     * line published to this topic (kh_http_publish) until the client or
     * the server goes. */
    int stream;
} kh_http_reply;

/* Stream topics. */
#define KH_HTTP_STREAM_AUDIT 1 /* KES's /v1/log/audit */
#define KH_HTTP_STREAM_ERROR 2 /* KES's /v1/log/error */
#define KH_HTTP_STREAM_TOPICS 3

/* Any thread: true when some connection is subscribed to topic (skip
 * building lines nobody reads). */
bool kh_http_stream_wanted(int topic);
/* Any thread, never blocks on I/O and never logs: send data (one whole
 * NDJSON line) to every subscriber of topic, or drop it when none or when
 * a listener's queue is full. */
void kh_http_publish(int topic, const char *data, size_t len);

typedef struct kh_http_handler {
    /* I/O thread; must not block. true = reply is filled in, false = run
     * handle() on a worker. */
    bool (*route)(void *arg, const kh_http_request *req, kh_http_reply *reply);
    /* Worker thread. */
    void (*handle)(void *arg, const kh_http_request *req, kh_http_reply *reply);
    /* A request refused before it could be handled (KH_ERR_BUSY). */
    void (*error)(void *arg, kh_err err, kh_http_reply *reply);
    void *arg;
} kh_http_handler;

/* Add an HTTPS listener on host:port (0 = ephemeral; *bound_port gets the
 * real one, may be NULL). With tls->require_client_cert == 0 and a CA file,
 * a client certificate is optional but verified when given. The handler is
 * copied. */
kh_err kh_server_listen_https(kh_server *s, const char *host, int port, const kh_tls_config *tls,
                              const kh_http_handler *h, int *bound_port) KH_MUST_CHECK;

/* The same with KES's TLS rules (net/tls.h, kh_tls_new_kes): a client
 * certificate required, no CA list sent, the chain verified against
 * tls->ca_file only when verify_chain. */
kh_err kh_server_listen_kes(kh_server *s, const char *host, int port, const kh_tls_config *tls,
                            int verify_chain, const kh_http_handler *h,
                            int *bound_port) KH_MUST_CHECK;

#endif
