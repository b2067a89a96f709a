/*
 * server.h - listeners, TLS, the event loop and the worker pool.
 *
 * net/ knows nothing of KMIP or keys. A listener is given a kh_proto_handler
 * that tells it how to frame messages (header length + a function that reads
 * the total length from the header) and what to do with one whole message.
 * The handler runs on a worker thread, never on the I/O thread; each
 * connection has at most one message in flight, so replies keep request
 * order. When the worker queue is full, the listener answers with
 * handler->error(KH_ERR_BUSY) instead of queueing without bound.
 */
#ifndef KH_NET_SERVER_H
#define KH_NET_SERVER_H

#include "common/buf.h"
#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define KH_PRINCIPAL_MAX 65 /* 64 hex chars + NUL */

typedef struct kh_peer {
    /* hex SHA-256 of the client certificate's DER SubjectPublicKeyInfo,
     * "" when the client sent no certificate. */
    char principal[KH_PRINCIPAL_MAX];
    char addr[64]; /* "ip:port" of the TCP peer */
} kh_peer;

typedef struct kh_proto_handler {
    size_t header_len; /* bytes needed before frame_len can answer */
    /* Total message length from its first header_len bytes; an error here
     * makes the listener send error()'s reply and close. */
    kh_err (*frame_len)(const uint8_t *hdr, size_t max, size_t *total);
    /* One whole message -> reply bytes (on a worker thread). An empty reply
     * closes the connection. */
    void (*handle)(void *arg, const kh_peer *peer, const uint8_t *msg, size_t len, kh_buf *reply);
    /* Reply for a message that could not be handled (framing error, too
     * large, busy). May leave reply empty (then the connection just closes
     * for framing errors, or gets nothing for busy). */
    void (*error)(void *arg, kh_err err, kh_buf *reply);
    void *arg;
    /* Non-NULL: each message's latency, from its dispatch to its reply
     * being ready (which may wait for its audit row's commit after handle
     * returned), goes to the metrics under this protocol name. */
    const char *metrics_name;
} kh_proto_handler;

typedef struct kh_tls_config {
    const char *cert_file; /* PEM server certificate (chain) */
    const char *key_file;  /* PEM private key */
    const char *ca_file;   /* PEM CA(s) that sign client certificates */
    const char *ciphers;   /* TLS 1.2 cipher list; NULL = ANSSI default */
    int require_client_cert;
} kh_tls_config;

typedef struct kh_server_config {
    unsigned workers;         /* worker threads, default 4 */
    size_t queue_max;         /* pending messages before BUSY, default 1024 */
    size_t max_message;       /* bytes, default 1 MiB */
    unsigned read_timeout_s;  /* a started message must complete, default 30 */
    unsigned idle_timeout_s;  /* idle connection closed after, default 300 */
    unsigned max_connections; /* default 16384 */
} kh_server_config;

void kh_server_config_defaults(kh_server_config *c);

typedef struct kh_server kh_server;

kh_err kh_server_new(const kh_server_config *cfg, kh_server **out) KH_MUST_CHECK;
/* Add a TLS listener on host:port (port 0 = ephemeral; *bound_port gets the
 * real one, may be NULL). The handler is copied. */
kh_err kh_server_listen_tls(kh_server *s, const char *host, int port, const kh_tls_config *tls,
                            const kh_proto_handler *h, int *bound_port) KH_MUST_CHECK;
/* Run the event loop until kh_server_stop or SIGINT/SIGTERM. */
kh_err kh_server_run(kh_server *s) KH_MUST_CHECK;
/* Thread-safe and async-signal-safe request to stop. */
void kh_server_stop(kh_server *s);
void kh_server_free(kh_server **s);

#endif
