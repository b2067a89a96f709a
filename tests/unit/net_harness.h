/*
 * net_harness.h - what the net/ unit tests (test_net*.c) share, against
 * real sockets on 127.0.0.1 with a throwaway CA made by the openssl CLI.
 *
 * The toy protocol: a 4-byte big-endian payload length, then the payload.
 * The handler answers with the payload reversed (same framing); "slow..."
 * payloads sleep 200 ms first, "gate..." ones wait for set_gate(1),
 * "close" gets an empty reply. error() answers FF FF 00 <kh_err>. Every
 * client socket has a 5 s receive timeout so a hang fails a test instead
 * of stalling the run.
 */
#ifndef KH_TESTS_NET_HARNESS_H
#define KH_TESTS_NET_HARNESS_H

#include "common/buf.h"
#include "net/server.h"

#include <openssl/ssl.h>

#include <pthread.h>
#include <stdint.h>

/* Certificates (group_setup makes them, group_teardown removes them). */
extern char expected_principal[KH_PRINCIPAL_MAX];  /* our client's, by the CLI */
extern SSL_CTX *ctx_good, *ctx_nocert, *ctx_rogue; /* client contexts */
const char *path(const char *name);                /* a file of the CA dir */
int group_setup(void **state);
int group_teardown(void **state);

/* The toy protocol's handler and what it saw. */
extern pthread_mutex_t seen_mu;
extern char seen_principal[KH_PRINCIPAL_MAX];
int handled_count(void);
void set_gate(int open);
int await_gate_entered(int n);
kh_err toy_frame(const uint8_t *hdr, size_t max, size_t *total);
void toy_handle(void *arg, const kh_peer *peer, const uint8_t *msg, size_t len, kh_buf *reply);
void toy_error(void *arg, kh_err err, kh_buf *reply);

/* A server running in a thread. */
typedef struct srv {
    kh_server *s;
    pthread_t th;
    int port;
    kh_err run_err;
} srv;

kh_server_config test_config(void);
kh_tls_config tls_config(int require);
void start_cfg(srv *x, const kh_server_config *cfg, int require_cert);
void start(srv *x); /* test_config(), client certificate required */
void stop(srv *x);

/* A blocking TLS client. */
typedef struct client {
    int fd;
    SSL *ssl;
} client;

enum { RD_OK = 1, RD_CLOSED = 0, RD_TIMEOUT = -1 };

int tcp_connect(int port);
/* 1 when the handshake succeeded (the client is then open either way). */
int client_open_v(client *c, int port, SSL_CTX *ctx, int max_version, const char *ciphers);
int client_open(client *c, int port, SSL_CTX *ctx);
void client_close(client *c);
int send_raw(client *c, const void *p, size_t n);
int send_msg(client *c, const char *payload);
/* One reply: the payload into out (NUL-terminated), or *err for an error
 * reply; RD_*. */
int read_reply(client *c, char *out, size_t cap, int *err);
int roundtrip(client *c, const char *payload); /* 1 when echoed reversed */
double now_s(void);

#endif
