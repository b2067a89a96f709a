/*
 * net_harness.c - the test harness of the net/ unit tests (net_harness.h):
 * a throwaway CA made by the openssl CLI, a toy protocol, a server in a
 * thread and a blocking TLS client.
 */
#include "net_harness.h"

#include "common/log.h"

#include <openssl/err.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
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
char expected_principal[KH_PRINCIPAL_MAX];
SSL_CTX *ctx_good, *ctx_nocert, *ctx_rogue;

const char *path(const char *name)
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

int group_setup(void **state)
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

int group_teardown(void **state)
{
    (void)state;
    SSL_CTX_free(ctx_good);
    SSL_CTX_free(ctx_nocert);
    SSL_CTX_free(ctx_rogue);
    sh("rm -rf %s", dir);
    return 0;
}

/* ---- the toy protocol ------------------------------------------------- */

pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
char seen_principal[KH_PRINCIPAL_MAX];
static int handled;

int handled_count(void)
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

void set_gate(int open)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    if (!open)
        gate_entered = 0;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

int await_gate_entered(int n)
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

kh_err toy_frame(const uint8_t *hdr, size_t max, size_t *total)
{
    uint64_t n = 4 + (uint64_t)be32(hdr);
    if (n > max)
        return KH_ERR_TOO_LARGE;
    *total = (size_t)n;
    return KH_OK;
}

void toy_handle(void *arg, const kh_peer *peer, const uint8_t *msg, size_t len, kh_buf *reply)
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

void toy_error(void *arg, kh_err err, kh_buf *reply)
{
    (void)arg;
    uint8_t code[4] = {0xFF, 0xFF, 0, (uint8_t)err};
    kh_buf_append(reply, code, sizeof(code));
}

/* ---- server in a thread ----------------------------------------------- */

static void *run_thread(void *arg)
{
    srv *x = arg;
    x->run_err = kh_server_run(x->s);
    return NULL;
}

kh_server_config test_config(void)
{
    kh_server_config cfg;
    kh_server_config_defaults(&cfg);
    cfg.workers = 4;
    return cfg;
}

kh_tls_config tls_config(int require)
{
    kh_tls_config t = {path("server.pem"), path("server.key"), path("ca.pem"), NULL, require};
    return t;
}

void start_cfg(srv *x, const kh_server_config *cfg, int require_cert)
{
    memset(x, 0, sizeof(*x));
    kh_tls_config tls = tls_config(require_cert);
    kh_proto_handler h = {4, toy_frame, toy_handle, toy_error, NULL, NULL};
    assert_int_equal(kh_server_new(cfg, &x->s), KH_OK);
    assert_int_equal(kh_server_listen_tls(x->s, "127.0.0.1", 0, &tls, &h, &x->port), KH_OK);
    assert_true(x->port > 0);
    assert_int_equal(pthread_create(&x->th, NULL, run_thread, x), 0);
}

void start(srv *x)
{
    kh_server_config cfg = test_config();
    start_cfg(x, &cfg, 1);
}

void stop(srv *x)
{
    kh_server_stop(x->s);
    assert_int_equal(pthread_join(x->th, NULL), 0);
    assert_int_equal(x->run_err, KH_OK);
    kh_server_free(&x->s);
    assert_null(x->s);
}

/* ---- client side ------------------------------------------------------ */

int tcp_connect(int port)
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
int client_open_v(client *c, int port, SSL_CTX *ctx, int max_version, const char *ciphers)
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

int client_open(client *c, int port, SSL_CTX *ctx)
{
    return client_open_v(c, port, ctx, 0, NULL);
}

void client_close(client *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

int send_raw(client *c, const void *p, size_t n)
{
    int ok = SSL_write(c->ssl, p, (int)n) == (int)n;
    ERR_clear_error();
    return ok;
}

int send_msg(client *c, const char *payload)
{
    size_t n = strlen(payload);
    uint8_t buf[4096];
    assert_true(n + 4 <= sizeof(buf));
    buf[0] = (uint8_t)(n >> 24), buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8), buf[3] = (uint8_t)n;
    memcpy(buf + 4, payload, n); /* framed by length, no terminator */ // NOLINT
    return send_raw(c, buf, n + 4);
}

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
int read_reply(client *c, char *out, size_t cap, int *err)
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

int roundtrip(client *c, const char *payload)
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

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
