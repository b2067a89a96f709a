/*
 * test_net.c - the TLS listener, framing, worker pool and timeouts, against
 * real sockets on 127.0.0.1 with a throwaway CA made by the openssl CLI.
 *
 * The toy protocol: a 4-byte big-endian payload length, then the payload.
 * The handler answers with the payload reversed (same framing); "slow..."
 * payloads sleep 200 ms first, "close" gets an empty reply. error() answers
 * FF FF 00 <kh_err>. Every client socket has a 5 s receive timeout so a
 * hang fails a test instead of stalling the run.
 */
#include "common/buf.h"
#include "common/log.h"
#include "net/server.h"
#include "net/workers.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- fixture: certificates and client contexts ------------------------ */

static char dir[64];
static char expected_principal[KH_PRINCIPAL_MAX];
static SSL_CTX *ctx_good, *ctx_nocert, *ctx_rogue;

static const char *path(const char *name)
{
    static char bufs[8][160];
    static int i;
    char *p = bufs[i++ & 7];
    snprintf(p, 160, "%s/%s", dir, name);
    return p;
}

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

#define KEYGEN "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
#define SIGN "openssl x509 -req -days 2 -CAcreateserial"

/* Two CAs (ours and a rogue one), the server, our client, a rogue client. */
static int make_certs(void)
{
    static const char *steps[] = {
        KEYGEN " -x509 -days 2 -keyout ca.key -out ca.pem -subj /CN=kh-ca",
        KEYGEN " -x509 -days 2 -keyout rogue-ca.key -out rogue-ca.pem -subj /CN=rogue-ca",
        KEYGEN " -keyout server.key -out server.csr -subj /CN=localhost",
        SIGN " -in server.csr -CA ca.pem -CAkey ca.key -out server.pem",
        KEYGEN " -keyout client.key -out client.csr -subj /CN=client",
        SIGN " -in client.csr -CA ca.pem -CAkey ca.key -out client.pem",
        KEYGEN " -keyout rogue.key -out rogue.csr -subj /CN=rogue-client",
        SIGN " -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -out rogue.pem",
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (sh("cd %s && %s >/dev/null 2>&1", dir, steps[i]) != 0)
            return -1;
    return 0;
}

/* The principal computed independently of the server, by the CLI. */
static int cli_principal(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -in %s -noout -pubkey | openssl pkey -pubin -outform DER | "
             "openssl dgst -sha256 -r",
             path("client.pem"));
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    int ok = fgets(expected_principal, sizeof(expected_principal), f) != NULL;
    pclose(f);
    return ok && strlen(expected_principal) == 64 ? 0 : -1;
}

static SSL_CTX *client_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, path("ca.pem"), NULL) != 1)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (cert && (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
                 SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1))
        return NULL;
    return ctx;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kh-test-net-XXXXXX");
    if (!mkdtemp(dir) || make_certs() != 0 || cli_principal() != 0)
        return -1;
    ctx_good = client_ctx(path("client.pem"), path("client.key"));
    ctx_nocert = client_ctx(NULL, NULL);
    ctx_rogue = client_ctx(path("rogue.pem"), path("rogue.key"));
    return ctx_good && ctx_nocert && ctx_rogue ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    SSL_CTX_free(ctx_good);
    SSL_CTX_free(ctx_nocert);
    SSL_CTX_free(ctx_rogue);
    sh("rm -rf %s", dir);
    return 0;
}

/* ---- the toy protocol ------------------------------------------------- */

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_principal[KH_PRINCIPAL_MAX];
static int handled;

static int handled_count(void)
{
    pthread_mutex_lock(&seen_mu);
    int n = handled;
    pthread_mutex_unlock(&seen_mu);
    return n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "gate..." messages hold their worker until the test opens the gate. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_entered;

static void wait_gate(void)
{
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 10; /* never hang the run */
    pthread_mutex_lock(&gate_mu);
    gate_entered++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open && pthread_cond_timedwait(&gate_cv, &gate_mu, &limit) == 0)
        ;
    pthread_mutex_unlock(&gate_mu);
}

static void set_gate(int open)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    if (!open)
        gate_entered = 0;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static int await_gate_entered(int n)
{
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 10;
    pthread_mutex_lock(&gate_mu);
    while (gate_entered < n && pthread_cond_timedwait(&gate_cv, &gate_mu, &limit) == 0)
        ;
    int ok = gate_entered >= n;
    pthread_mutex_unlock(&gate_mu);
    return ok;
}

static kh_err toy_frame(const uint8_t *hdr, size_t max, size_t *total)
{
    uint64_t n = 4 + (uint64_t)be32(hdr);
    if (n > max)
        return KH_ERR_TOO_LARGE;
    *total = (size_t)n;
    return KH_OK;
}

static void toy_handle(void *arg, const kh_peer *peer, const uint8_t *msg, size_t len,
                       kh_buf *reply)
{
    (void)arg;
    const uint8_t *p = msg + 4;
    size_t n = len - 4;
    pthread_mutex_lock(&seen_mu);
    snprintf(seen_principal, sizeof(seen_principal), "%s", peer->principal);
    handled++;
    pthread_mutex_unlock(&seen_mu);
    if (n >= 4 && memcmp(p, "slow", 4) == 0)
        usleep(200 * 1000);
    if (n >= 4 && memcmp(p, "gate", 4) == 0)
        wait_gate();
    if (n == 5 && memcmp(p, "close", 5) == 0)
        return;
    kh_buf_append_be32(reply, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        kh_buf_append_u8(reply, p[n - 1 - i]);
}

static void toy_error(void *arg, kh_err err, kh_buf *reply)
{
    (void)arg;
    uint8_t code[4] = {0xFF, 0xFF, 0, (uint8_t)err};
    kh_buf_append(reply, code, sizeof(code));
}

/* ---- server in a thread ----------------------------------------------- */

typedef struct srv {
    kh_server *s;
    pthread_t th;
    int port;
    kh_err run_err;
} srv;

static void *run_thread(void *arg)
{
    srv *x = arg;
    x->run_err = kh_server_run(x->s);
    return NULL;
}

static kh_server_config test_config(void)
{
    kh_server_config cfg;
    kh_server_config_defaults(&cfg);
    cfg.workers = 4;
    return cfg;
}

static kh_tls_config tls_config(int require)
{
    kh_tls_config t = {path("server.pem"), path("server.key"), path("ca.pem"), NULL, require};
    return t;
}

static void start_cfg(srv *x, const kh_server_config *cfg, int require_cert)
{
    memset(x, 0, sizeof(*x));
    kh_tls_config tls = tls_config(require_cert);
    kh_proto_handler h = {4, toy_frame, toy_handle, toy_error, NULL};
    assert_int_equal(kh_server_new(cfg, &x->s), KH_OK);
    assert_int_equal(kh_server_listen_tls(x->s, "127.0.0.1", 0, &tls, &h, &x->port), KH_OK);
    assert_true(x->port > 0);
    assert_int_equal(pthread_create(&x->th, NULL, run_thread, x), 0);
}

static void start(srv *x)
{
    kh_server_config cfg = test_config();
    start_cfg(x, &cfg, 1);
}

static void stop(srv *x)
{
    kh_server_stop(x->s);
    assert_int_equal(pthread_join(x->th, NULL), 0);
    assert_int_equal(x->run_err, KH_OK);
    kh_server_free(&x->s);
    assert_null(x->s);
}

/* ---- client side ------------------------------------------------------ */

typedef struct client {
    int fd;
    SSL *ssl;
} client;

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* 1 when the handshake succeeded (the client is then open either way). */
static int client_open_v(client *c, int port, SSL_CTX *ctx, int max_version, const char *ciphers)
{
    c->fd = tcp_connect(port);
    c->ssl = SSL_new(ctx);
    assert_true(c->fd >= 0 && c->ssl);
    if (max_version)
        SSL_set_max_proto_version(c->ssl, max_version);
    if (ciphers)
        assert_int_equal(SSL_set_cipher_list(c->ssl, ciphers), 1);
    SSL_set_fd(c->ssl, c->fd);
    int ok = SSL_connect(c->ssl) == 1;
    ERR_clear_error();
    return ok;
}

static int client_open(client *c, int port, SSL_CTX *ctx)
{
    return client_open_v(c, port, ctx, 0, NULL);
}

static void client_close(client *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

static int send_raw(client *c, const void *p, size_t n)
{
    int ok = SSL_write(c->ssl, p, (int)n) == (int)n;
    ERR_clear_error();
    return ok;
}

static int send_msg(client *c, const char *payload)
{
    size_t n = strlen(payload);
    uint8_t buf[4096];
    assert_true(n + 4 <= sizeof(buf));
    buf[0] = (uint8_t)(n >> 24), buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8), buf[3] = (uint8_t)n;
    memcpy(buf + 4, payload, n); /* framed by length, no terminator */ // NOLINT
    return send_raw(c, buf, n + 4);
}

enum { RD_OK = 1, RD_CLOSED = 0, RD_TIMEOUT = -1 };

static int read_full(client *c, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = SSL_read(c->ssl, p + got, (int)(n - got));
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        int timeout = e == SSL_ERROR_WANT_READ ||
                      (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
        ERR_clear_error();
        return timeout ? RD_TIMEOUT : RD_CLOSED;
    }
    return RD_OK;
}

/* Reads one reply: the payload into out (NUL-terminated), or *err for an
 * error reply. */
static int read_reply(client *c, char *out, size_t cap, int *err)
{
    uint8_t h[4];
    int r = read_full(c, h, 4);
    *err = 0;
    if (r != RD_OK)
        return r;
    if (h[0] == 0xFF && h[1] == 0xFF) {
        *err = h[3];
        return RD_OK;
    }
    uint32_t n = be32(h);
    assert_true(n < cap);
    r = read_full(c, (uint8_t *)out, n);
    out[r == RD_OK ? n : 0] = '\0';
    return r;
}

static int roundtrip(client *c, const char *payload)
{
    char got[4096], want[4096];
    size_t n = strlen(payload);
    int err;
    for (size_t i = 0; i < n; i++)
        want[i] = payload[n - 1 - i];
    want[n] = '\0';
    return send_msg(c, payload) && read_reply(c, got, sizeof(got), &err) == RD_OK && err == 0 &&
           strcmp(got, want) == 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tests ------------------------------------------------------------ */

static void test_echo_and_principal(void **state)
{
    (void)state;
    srv x;
    client c;
    start(&x);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(roundtrip(&c, "hello, world"));
    pthread_mutex_lock(&seen_mu);
    assert_string_equal(seen_principal, expected_principal);
    pthread_mutex_unlock(&seen_mu);
    assert_true(roundtrip(&c, "")); /* a header-only message is a message */
    assert_true(roundtrip(&c, "x"));
    client_close(&c);
    stop(&x);
}

static void test_tls_policy(void **state)
{
    (void)state;
    srv x;
    client c;
    start(&x);
    /* TLS 1.2 with an ANSSI suite works; CBC suites and TLS 1.1 do not. */
    assert_int_equal(
        client_open_v(&c, x.port, ctx_good, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"), 1);
    assert_string_equal(SSL_get_version(c.ssl), "TLSv1.2");
    assert_true(roundtrip(&c, "tls12"));
    client_close(&c);
    assert_int_equal(
        client_open_v(&c, x.port, ctx_good, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256"), 0);
    client_close(&c);
    assert_int_equal(client_open_v(&c, x.port, ctx_good, TLS1_1_VERSION, "DEFAULT@SECLEVEL=0"), 0);
    client_close(&c);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_string_equal(SSL_get_version(c.ssl), "TLSv1.3");
    client_close(&c);
    stop(&x);
}

typedef struct worker_arg {
    int port, id, ok;
} worker_arg;

static void *client_thread(void *arg)
{
    worker_arg *w = arg;
    client c;
    if (client_open(&c, w->port, ctx_good) != 1)
        return NULL;
    for (int i = 0; i < 50; i++) {
        char msg[64];
        snprintf(msg, sizeof(msg), "client %d message %d", w->id, i);
        w->ok += roundtrip(&c, msg);
    }
    client_close(&c);
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    (void)state;
    srv x;
    pthread_t th[8];
    worker_arg w[8];
    start(&x);
    int before = handled_count();
    for (int i = 0; i < 8; i++) {
        w[i] = (worker_arg){x.port, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, client_thread, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 50);
    }
    assert_int_equal(handled_count() - before, 400);
    stop(&x);
}

static void test_pipelined_replies_keep_order(void **state)
{
    (void)state;
    srv x;
    client c;
    start(&x);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    uint8_t buf[256];
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        char m[8];
        int len = snprintf(m, sizeof(m), "m%d%s", i, i == 0 ? "slow" : "");
        buf[n++] = 0, buf[n++] = 0, buf[n++] = 0, buf[n++] = (uint8_t)len;
        memcpy(buf + n, m, (size_t)len);
        n += (size_t)len;
    }
    assert_true(send_raw(&c, buf, n));
    static const char *want[] = {"wols0m", "1m", "2m", "3m", "4m"};
    for (int i = 0; i < 5; i++) {
        char got[64];
        int err;
        assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_OK);
        assert_int_equal(err, 0);
        assert_string_equal(got, want[i]);
    }
    client_close(&c);
    stop(&x);
}

static void test_unauthenticated_clients_refused(void **state)
{
    (void)state;
    srv x;
    client good, bad;
    char got[64];
    int err;
    start(&x);
    assert_int_equal(client_open(&good, x.port, ctx_good), 1);
    int before = handled_count();
    /* TLS 1.2: the server refuses inside the handshake. */
    assert_int_equal(client_open_v(&bad, x.port, ctx_nocert, TLS1_2_VERSION, NULL), 0);
    client_close(&bad);
    /* TLS 1.3: the client finishes first, then gets the server's alert. */
    if (client_open(&bad, x.port, ctx_nocert) == 1) {
        send_msg(&bad, "let me in");
        assert_int_equal(read_reply(&bad, got, sizeof(got), &err), RD_CLOSED);
    }
    client_close(&bad);
    if (client_open(&bad, x.port, ctx_rogue) == 1) {
        send_msg(&bad, "let me in");
        assert_int_equal(read_reply(&bad, got, sizeof(got), &err), RD_CLOSED);
    }
    client_close(&bad);
    assert_int_equal(handled_count(), before);
    assert_true(roundtrip(&good, "still here"));
    client_close(&good);
    assert_int_equal(client_open(&good, x.port, ctx_good), 1);
    assert_true(roundtrip(&good, "and new ones too"));
    client_close(&good);
    stop(&x);
}

static void test_oversize_gets_error_then_close(void **state)
{
    (void)state;
    srv x;
    client c;
    char got[2048];
    int err;
    kh_server_config cfg = test_config();
    cfg.max_message = 1024;
    start_cfg(&x, &cfg, 1);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    char big[1021];
    memset(big, 'a', 1020);
    big[1020] = '\0';
    assert_true(roundtrip(&c, big)); /* 4 + 1020 = max_message exactly */
    int before = handled_count();
    uint8_t hdr[4] = {0, 0, 0x03, 0xFD}; /* 4 + 1021 > max_message */
    assert_true(send_raw(&c, hdr, 4));
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_OK);
    assert_int_equal(err, KH_ERR_TOO_LARGE);
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_CLOSED);
    assert_int_equal(handled_count(), before);
    client_close(&c);
    stop(&x);
}

static void test_empty_reply_closes(void **state)
{
    (void)state;
    srv x;
    client c;
    char got[64];
    int err;
    start(&x);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(send_msg(&c, "close"));
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_CLOSED);
    client_close(&c);
    stop(&x);
}

static void test_tls_garbage_closes_only_that_connection(void **state)
{
    (void)state;
    srv x;
    client good;
    start(&x);
    assert_int_equal(client_open(&good, x.port, ctx_good), 1);
    int fd = tcp_connect(x.port);
    assert_true(fd >= 0);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: keyhold\r\n\r\n";
    assert_int_equal(send(fd, junk, sizeof(junk) - 1, 0), (ssize_t)(sizeof(junk) - 1));
    char b[512];
    ssize_t r;
    while ((r = recv(fd, b, sizeof(b), 0)) > 0)
        ;                                       /* an alert may come first */
    assert_true(r == 0 || errno == ECONNRESET); /* closed, not timed out */
    close(fd);
    assert_true(roundtrip(&good, "unaffected"));
    client_close(&good);
    stop(&x);
}

static void test_stalled_client_does_not_block_others(void **state)
{
    (void)state;
    srv x;
    client slow, fast;
    char got[64];
    int err;
    kh_server_config cfg = test_config();
    cfg.read_timeout_s = 2;
    start_cfg(&x, &cfg, 1);
    assert_int_equal(client_open(&slow, x.port, ctx_good), 1);
    assert_int_equal(client_open(&fast, x.port, ctx_good), 1);
    double t0 = now_s();
    uint8_t half[14] = {0, 0, 0, 100, 'h', 'a', 'l', 'f'};
    assert_true(send_raw(&slow, half, sizeof(half)));
    for (int i = 0; i < 20; i++)
        assert_true(roundtrip(&fast, "meanwhile"));
    /* none of them waited for the stalled one: all done before its timeout */
    assert_true(now_s() - t0 < 1.9);
    assert_int_equal(read_reply(&slow, got, sizeof(got), &err), RD_CLOSED);
    double waited = now_s() - t0;
    assert_true(waited >= 1.9 && waited < 10); /* generous: CI may run under ASan */
    assert_true(roundtrip(&fast, "after"));
    client_close(&slow);
    client_close(&fast);
    stop(&x);
}

static void test_trickling_client_is_cut_off(void **state)
{
    (void)state;
    srv x;
    client c;
    kh_server_config cfg = test_config();
    cfg.read_timeout_s = 1;
    start_cfg(&x, &cfg, 1);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    uint8_t hdr[4] = {0, 0, 0, 50};
    assert_true(send_raw(&c, hdr, 4));
    double t0 = now_s();
    int sent = 0; /* one byte every 250 ms: never idle, never done */
    while (now_s() - t0 < 8 && send_raw(&c, "z", 1)) {
        sent++;
        usleep(250 * 1000);
    }
    double waited = now_s() - t0;
    assert_true(sent < 50);
    assert_true(waited >= 0.9 && waited < 6); /* cut off, not left to trickle */
    client_close(&c);
    stop(&x);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    srv x;
    client c;
    char got[64];
    int err;
    kh_server_config cfg = test_config();
    cfg.idle_timeout_s = 1;
    start_cfg(&x, &cfg, 1);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(roundtrip(&c, "one"));
    double t0 = now_s();
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_CLOSED);
    double waited = now_s() - t0;
    assert_true(waited >= 0.9 && waited < 10);
    client_close(&c);
    stop(&x);
}

static void test_disconnect_during_slow_handler(void **state)
{
    (void)state;
    srv x;
    client c;
    start(&x);
    int before = handled_count();
    for (int i = 0; i < 4; i++) {
        assert_int_equal(client_open(&c, x.port, ctx_good), 1);
        assert_true(send_msg(&c, "slow and gone"));
        client_close(&c);
    }
    usleep(400 * 1000);
    assert_int_equal(handled_count() - before, 4);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(roundtrip(&c, "survivor"));
    client_close(&c);
    /* And once more with the server stopped while the handler runs. */
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(send_msg(&c, "slow at shutdown"));
    usleep(50 * 1000);
    stop(&x);
    client_close(&c);
}

/* Reading stays enabled while a message is in a worker: a client that
 * sends its last request and then its close_notify still gets the reply,
 * and then the connection closes. */
static void test_reply_after_client_close_notify(void **state)
{
    (void)state;
    srv x;
    client c;
    char got[64];
    int err;
    start(&x);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(send_msg(&c, "slow goodbye"));
    SSL_shutdown(c.ssl); /* our close_notify, while the handler sleeps */
    ERR_clear_error();
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_OK);
    assert_int_equal(err, 0);
    assert_string_equal(got, "eybdoog wols");
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_CLOSED);
    client_close(&c);
    stop(&x);
}

/* The same after a bare TCP half-close (no close_notify), with more
 * messages pipelined behind the one in the worker: all are answered, in
 * order, then the connection closes. */
static void test_reply_after_client_half_close(void **state)
{
    (void)state;
    srv x;
    client c;
    char got[64];
    int err;
    start(&x);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(send_msg(&c, "slow half"));
    assert_true(send_msg(&c, "two"));
    assert_true(send_msg(&c, "three"));
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    static const char *want[] = {"flah wols", "owt", "eerht"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_OK);
        assert_int_equal(err, 0);
        assert_string_equal(got, want[i]);
    }
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_CLOSED);
    client_close(&c);
    /* A part of a message, then EOF: closed without an answer. */
    int before = handled_count();
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    uint8_t part[6] = {0, 0, 0, 9, 'p', 'a'};
    assert_true(send_raw(&c, part, sizeof(part)));
    assert_int_equal(shutdown(c.fd, SHUT_WR), 0);
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_CLOSED);
    assert_int_equal(handled_count(), before);
    client_close(&c);
    stop(&x);
}

/* Many messages in one write, more than one TLS record's worth: each is
 * answered once, in order, one at a time. */
static void test_many_pipelined_messages(void **state)
{
    (void)state;
    srv x;
    client c;
    start(&x);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    int before = handled_count();
    enum { N = 2000 };
    static uint8_t buf[N * 16];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        char m[16];
        int len = snprintf(m, sizeof(m), "p%d", i);
        buf[n++] = 0, buf[n++] = 0, buf[n++] = 0, buf[n++] = (uint8_t)len;
        memcpy(buf + n, m, (size_t)len);
        n += (size_t)len;
    }
    assert_true(send_raw(&c, buf, n));
    for (int i = 0; i < N; i++) {
        char got[64], want[16], m[16];
        int err, len = snprintf(m, sizeof(m), "p%d", i);
        for (int k = 0; k < len; k++)
            want[k] = m[len - 1 - k];
        want[len] = '\0';
        assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_OK);
        assert_int_equal(err, 0);
        assert_string_equal(got, want);
    }
    assert_int_equal(handled_count() - before, N);
    assert_true(roundtrip(&c, "after the burst"));
    client_close(&c);
    stop(&x);
}

/* The idle timeout does not run while a message is in a worker, however
 * long the handler takes. */
static void test_idle_timeout_paused_while_busy(void **state)
{
    (void)state;
    srv x;
    client c;
    char got[64];
    int err;
    kh_server_config cfg = test_config();
    cfg.idle_timeout_s = 1;
    start_cfg(&x, &cfg, 1);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    set_gate(0);
    assert_true(send_msg(&c, "gate long"));
    assert_true(await_gate_entered(1));
    usleep(1800 * 1000); /* well past the idle timeout */
    set_gate(1);
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_OK);
    assert_string_equal(got, "gnol etag");
    assert_true(roundtrip(&c, "still open"));
    client_close(&c);
    stop(&x);
}

/* The idle deadline moves with each message (the timer armed for an
 * earlier deadline re-arms itself instead of closing), and still fires once
 * the client goes quiet. */
static void test_idle_deadline_moves_with_activity(void **state)
{
    (void)state;
    srv x;
    client c;
    char got[64];
    int err;
    kh_server_config cfg = test_config();
    cfg.idle_timeout_s = 1;
    start_cfg(&x, &cfg, 1);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    for (int i = 0; i < 5; i++) { /* 3 s in all, never 1 s idle */
        assert_true(roundtrip(&c, "keepalive"));
        usleep(600 * 1000);
    }
    assert_true(roundtrip(&c, "last"));
    double t0 = now_s();
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_CLOSED);
    double waited = now_s() - t0;
    assert_true(waited >= 0.9 && waited < 10);
    client_close(&c);
    stop(&x);
}

static void test_full_queue_answers_busy(void **state)
{
    (void)state;
    srv x;
    client a, b, c;
    char got[64];
    int err;
    kh_server_config cfg = test_config();
    cfg.workers = 1;
    cfg.queue_max = 1;
    start_cfg(&x, &cfg, 1);
    assert_int_equal(client_open(&a, x.port, ctx_good), 1);
    assert_int_equal(client_open(&b, x.port, ctx_good), 1);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    set_gate(0);
    assert_true(send_msg(&a, "gateA")); /* holds the only worker */
    assert_true(await_gate_entered(1));
    assert_true(send_msg(&b, "gateB")); /* waits in the queue */
    usleep(300 * 1000);
    assert_true(send_msg(&c, "hi")); /* finds the queue full */
    assert_int_equal(read_reply(&c, got, sizeof(got), &err), RD_OK);
    assert_int_equal(err, KH_ERR_BUSY);
    set_gate(1);
    assert_int_equal(read_reply(&a, got, sizeof(got), &err), RD_OK);
    assert_string_equal(got, "Aetag");
    assert_int_equal(read_reply(&b, got, sizeof(got), &err), RD_OK);
    assert_string_equal(got, "Betag");
    assert_true(roundtrip(&c, "kept open"));
    client_close(&a);
    client_close(&b);
    client_close(&c);
    stop(&x);
}

static void test_max_connections(void **state)
{
    (void)state;
    srv x;
    client a, b, c;
    kh_server_config cfg = test_config();
    cfg.max_connections = 2;
    start_cfg(&x, &cfg, 1);
    assert_int_equal(client_open(&a, x.port, ctx_good), 1);
    assert_int_equal(client_open(&b, x.port, ctx_good), 1);
    assert_true(roundtrip(&a, "a") && roundtrip(&b, "b"));
    assert_int_equal(client_open(&c, x.port, ctx_good), 0);
    client_close(&c);
    client_close(&a);
    int ok = 0; /* the server notices a's departure asynchronously */
    for (int i = 0; i < 40 && !ok; i++) {
        ok = client_open(&c, x.port, ctx_good) == 1 && roundtrip(&c, "c");
        if (!ok)
            usleep(50 * 1000);
        client_close(&c);
    }
    assert_true(ok);
    assert_true(roundtrip(&b, "b again"));
    client_close(&b);
    stop(&x);
}

static void test_optional_client_cert(void **state)
{
    (void)state;
    srv x;
    client c;
    kh_server_config cfg = test_config();
    start_cfg(&x, &cfg, 0);
    assert_int_equal(client_open(&c, x.port, ctx_nocert), 1);
    assert_true(roundtrip(&c, "anonymous"));
    pthread_mutex_lock(&seen_mu);
    assert_string_equal(seen_principal, "");
    pthread_mutex_unlock(&seen_mu);
    client_close(&c);
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(roundtrip(&c, "named"));
    pthread_mutex_lock(&seen_mu);
    assert_string_equal(seen_principal, expected_principal);
    pthread_mutex_unlock(&seen_mu);
    client_close(&c);
    stop(&x);
}

static void test_stop_paths(void **state)
{
    (void)state;
    kh_server_config cfg = test_config();
    kh_server *s = NULL;
    /* A stop requested before run makes run return at once. */
    assert_int_equal(kh_server_new(&cfg, &s), KH_OK);
    kh_server_stop(s);
    assert_int_equal(kh_server_run(s), KH_OK);
    kh_server_free(&s);
    kh_server_free(&s); /* NULL is fine */
    /* SIGTERM stops the loop. */
    srv x;
    start(&x);
    client c;
    assert_int_equal(client_open(&c, x.port, ctx_good), 1);
    assert_true(roundtrip(&c, "before the signal"));
    kill(getpid(), SIGTERM);
    assert_int_equal(pthread_join(x.th, NULL), 0);
    assert_int_equal(x.run_err, KH_OK);
    kh_server_free(&x.s);
    client_close(&c);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    kh_server_config cfg = test_config();
    kh_server *s = NULL;
    cfg.workers = 0;
    assert_int_equal(kh_server_new(&cfg, &s), KH_ERR_INVALID_ARG);
    assert_null(s);
    cfg = test_config();
    assert_int_equal(kh_server_new(&cfg, &s), KH_OK);
    kh_proto_handler h = {0, toy_frame, toy_handle, toy_error, NULL};
    kh_tls_config tls = tls_config(1);
    assert_int_equal(kh_server_listen_tls(s, "127.0.0.1", 0, &tls, &h, NULL), KH_ERR_INVALID_ARG);
    h.header_len = 4;
    tls.key_file = path("client.key"); /* does not match server.pem */
    assert_int_equal(kh_server_listen_tls(s, "127.0.0.1", 0, &tls, &h, NULL), KH_ERR_CONFIG);
    tls = tls_config(1);
    tls.ca_file = NULL;
    assert_int_equal(kh_server_listen_tls(s, "127.0.0.1", 0, &tls, &h, NULL), KH_ERR_CONFIG);
    tls = tls_config(1);
    tls.ciphers = "AES128-SHA:NOPE";
    assert_int_equal(kh_server_listen_tls(s, "127.0.0.1", 0, &tls, &h, NULL), KH_OK);
    tls.ciphers = "NOPE";
    assert_int_equal(kh_server_listen_tls(s, "127.0.0.1", 0, &tls, &h, NULL), KH_ERR_CONFIG);
    kh_server_free(&s);
}

/* ---- the pool on its own ---------------------------------------------- */

typedef struct pool_job {
    kh_work work;
    int ran, dropped;
} pool_job;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static int pool_open, pool_entered;

static void pool_run(kh_work *w)
{
    pthread_mutex_lock(&pool_mu);
    pool_entered++;
    pthread_cond_broadcast(&pool_cv);
    while (!pool_open)
        pthread_cond_wait(&pool_cv, &pool_mu);
    ((pool_job *)w)->ran++;
    pthread_mutex_unlock(&pool_mu);
}

static void pool_drop(kh_work *w)
{
    ((pool_job *)w)->dropped++;
}

static void test_workers_bounded(void **state)
{
    (void)state;
    kh_workers *p = NULL;
    pool_job j[4] = {0};
    assert_int_equal(kh_workers_new(0, 2, pool_run, pool_drop, &p), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_workers_new(1, 2, pool_run, pool_drop, &p), KH_OK);
    assert_int_equal(kh_workers_submit(p, &j[0].work), KH_OK);
    pthread_mutex_lock(&pool_mu);
    while (pool_entered < 1)
        pthread_cond_wait(&pool_cv, &pool_mu);
    pthread_mutex_unlock(&pool_mu);
    assert_int_equal(kh_workers_submit(p, &j[1].work), KH_OK);
    assert_int_equal(kh_workers_submit(p, &j[2].work), KH_OK);
    assert_int_equal(kh_workers_pending(p), 2);
    assert_int_equal(kh_workers_submit(p, &j[3].work), KH_ERR_BUSY);
    pthread_mutex_lock(&pool_mu);
    pool_open = 1;
    pthread_cond_broadcast(&pool_cv);
    pthread_mutex_unlock(&pool_mu);
    kh_workers_free(&p);
    assert_null(p);
    assert_int_equal(j[0].ran, 1);
    for (int i = 1; i < 3; i++) /* each queued job ran or was dropped, once */
        assert_int_equal(j[i].ran + j[i].dropped, 1);
    assert_int_equal(j[3].ran + j[3].dropped, 0);
}

int main(void)
{
    if (!getenv("KH_TEST_VERBOSE"))
        kh_log_set_level(KH_LOG_ERROR);
    if (getenv("KH_TEST_FILTER"))
        cmocka_set_test_filter(getenv("KH_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_bounded),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_echo_and_principal),
        cmocka_unit_test(test_tls_policy),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_pipelined_replies_keep_order),
        cmocka_unit_test(test_unauthenticated_clients_refused),
        cmocka_unit_test(test_oversize_gets_error_then_close),
        cmocka_unit_test(test_empty_reply_closes),
        cmocka_unit_test(test_tls_garbage_closes_only_that_connection),
        cmocka_unit_test(test_stalled_client_does_not_block_others),
        cmocka_unit_test(test_trickling_client_is_cut_off),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_disconnect_during_slow_handler),
        cmocka_unit_test(test_reply_after_client_close_notify),
        cmocka_unit_test(test_reply_after_client_half_close),
        cmocka_unit_test(test_many_pipelined_messages),
        cmocka_unit_test(test_idle_timeout_paused_while_busy),
        cmocka_unit_test(test_idle_deadline_moves_with_activity),
        cmocka_unit_test(test_full_queue_answers_busy),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_optional_client_cert),
        cmocka_unit_test(test_stop_paths),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
