/*
 * loadgen.c - kh_loadgen, the KMIP load generator of bench/run.
 *
 * One thread per busy connection, each a persistent mutual-TLS connection
 * with one request in flight (KMIP is request/response), replaying
 * pre-encoded KMIP 1.2 requests until the time is up. Latency is measured
 * per request from the first byte written to the last byte read, into a
 * log-linear histogram (~1.6% resolution) per thread, merged at the end.
 * Blocking sockets and a thread per connection keep the client simple and
 * cheap enough for 64 connections; 10,000 idle connections are plain
 * handshaken TLS sessions that are never read from.
 *
 * Nothing here is fatal once the run has started: a failed request is
 * counted, a broken connection is counted and reopened, a request that
 * takes longer than --timeout-ms is a failure. It prints one JSON line.
 * --port P1,P2 spreads the connections over several servers (keyhold nodes
 * of one database), connection i to the (i mod n)-th; setups use the first.
 *
 * Scenarios:
 *   setup    create one AES-256 key (Encrypt|Decrypt), activate it, print
 *            its uid (nothing else) - the key the other scenarios use
 *   get      Get --uid                     encrypt  Encrypt 64 bytes, GCM
 *   create   Create AES-256, unnamed       locate   Locate by a random name
 *   mixed    80% get, 15% encrypt, 5% create        of --names NAME-0..N-1
 *   preload  Create --count keys named --name-prefix-<i>, as fast as it can
 *
 * KES scenarios, HTTP/1.1 keep-alive over the same kind of TLS connection
 * to the HTTPS listener (--port is then the HTTPS port):
 *   kes-setup     PUT /v1/key/create/<--name-prefix>kes (200, or 400 when it
 *                 exists), then one generate; prints that data key's
 *                 ciphertext (base64), the --uid of kes-decrypt
 *   kes-generate  PUT /v1/key/generate/<prefix>kes  {}
 *   kes-decrypt   PUT /v1/key/decrypt/<prefix>kes   {"ciphertext": --uid}
 * A reply counts as ok when its status is 200. This is a client: it reads
 * the status line, Content-Length and that many body bytes, nothing more.
 */
#include "bench/bench_msgs.h"

#include "common/buf.h"
#include "proto/kmip_consts.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPLY (4u << 20)
#define NBUCKETS 2048
#define SUB_BITS 6
#define LOCATE_VARIANTS 256
#define MAX_CONNS 4096
#define MAX_PORTS 8 /* --port P1,P2,...: several nodes of one database */

enum scenario {
    S_SETUP,
    S_GET,
    S_ENCRYPT,
    S_CREATE,
    S_LOCATE,
    S_MIXED,
    S_PRELOAD,
    S_KES_SETUP,
    S_KES_GENERATE,
    S_KES_DECRYPT
};
static const char *const scenario_names[] = {"setup",        "get",        "encrypt", "create",
                                             "locate",       "mixed",      "preload", "kes-setup",
                                             "kes-generate", "kes-decrypt"};
#define MAX_HTTP_HEAD 16384

typedef struct opts {
    enum scenario scenario;
    int port[MAX_PORTS]; /* connection i goes to port[i % nports] */
    unsigned nports;
    const char *ca, *cert, *key, *uid, *label, *name_prefix;
    unsigned conns, idle;
    double seconds;
    long count, names;
    unsigned timeout_ms;
    long rss_pid;
} opts;

typedef struct stats {
    uint64_t ok, failed, unsupported, conn_errors;
    uint32_t first_reason; /* ResultReason of the first failure */
    uint64_t hist[NBUCKETS];
} stats;

typedef struct worker {
    pthread_t tid;
    unsigned idx;
    stats st;
    uint64_t rng;
    double end;
} worker;

static opts O;
static SSL_CTX *ctx;
static kh_buf req_get, req_encrypt, req_create, req_locate[LOCATE_VARIANTS];
static kh_buf req_kes; /* the KES scenarios' one request */
static pthread_barrier_t ready_barrier, go_barrier;
static double deadline;
static atomic_long preload_next;
static atomic_int error_reports;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report_error(const char *what, const char *detail)
{
    /* The first few, so a broken server is visible without a flood. */
    if (atomic_fetch_add(&error_reports, 1) < 5)
        fprintf(stderr, "kh_loadgen[%s %s]: %s%s%s\n", O.label, scenario_names[O.scenario], what,
                detail ? ": " : "", detail ? detail : "");
}

/* ---- latency histogram ---------------------------------------------------- */

static unsigned bucket_of(uint64_t v)
{
    if (v < (1u << SUB_BITS))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - (SUB_BITS - 1);
    unsigned b = shift * (1u << (SUB_BITS - 1)) + (unsigned)(v >> shift);
    return b < NBUCKETS ? b : NBUCKETS - 1;
}

/* Midpoint of bucket b, in the histogram's unit (microseconds). */
static double bucket_value(unsigned b)
{
    const unsigned half = 1u << (SUB_BITS - 1);
    if (b < (1u << SUB_BITS))
        return b;
    unsigned shift = b / half - 1, mant = b % half + half;
    return ((double)mant + 0.5) * (double)(1ull << shift);
}

static double percentile(const uint64_t *h, uint64_t total, double q)
{
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total);
    if (want >= total)
        want = total - 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        seen += h[b];
        if (seen > want)
            return bucket_value(b);
    }
    return bucket_value(NBUCKETS - 1);
}

/* ---- TLS connections ----------------------------------------------------- */

/* Connection i (a busy or idle one) goes to the i-th port, round robin. */
static SSL *tls_connect(unsigned i)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        report_error("socket", strerror(errno));
        return NULL;
    }
    struct timeval tv = {(time_t)(O.timeout_ms / 1000), (suseconds_t)(O.timeout_ms % 1000) * 1000};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)O.port[i % O.nports]);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        report_error("connect", strerror(errno));
        close(fd);
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        report_error("TLS handshake", buf);
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    return ssl;
}

static void tls_close(SSL **ssl)
{
    if (!*ssl)
        return;
    int fd = SSL_get_fd(*ssl);
    SSL_free(*ssl);
    close(fd);
    *ssl = NULL;
}

static int read_full(SSL *ssl, uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t got = 0;
        if (SSL_read_ex(ssl, p, n, &got) != 1)
            return -1;
        p += got;
        n -= got;
    }
    return 0;
}

/* Send req, read one whole TTLV reply into *reply. 0 or -1 (I/O error). */
static int exchange(SSL *ssl, const kh_buf *req, kh_buf *reply)
{
    size_t written = 0;
    if (SSL_write_ex(ssl, req->data, req->len, &written) != 1 || written != req->len)
        return -1;
    uint8_t hdr[8];
    if (read_full(ssl, hdr, sizeof(hdr)) != 0)
        return -1;
    size_t body = ((size_t)hdr[4] << 24) | ((size_t)hdr[5] << 16) | ((size_t)hdr[6] << 8) | hdr[7];
    if (body > MAX_REPLY)
        return -1;
    reply->len = 0;
    kh_buf_append(reply, hdr, sizeof(hdr));
    kh_buf_reserve(reply, body);
    if (read_full(ssl, reply->data + 8, body) != 0)
        return -1;
    reply->len = 8 + body;
    return 0;
}

static int is_http(void)
{
    return O.scenario >= S_KES_SETUP;
}

/* Length of the header block ending in CRLF CRLF within p[0..n), or 0. */
static size_t head_len(const uint8_t *p, size_t n)
{
    for (size_t i = 3; i < n; i++)
        if (p[i - 3] == '\r' && p[i - 2] == '\n' && p[i - 1] == '\r' && p[i] == '\n')
            return i + 1;
    return 0;
}

/* Content-Length of a header block (NUL-terminated copy), -1 if absent. */
static long content_length(const char *head)
{
    for (const char *l = strstr(head, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, "content-length:", 15) == 0)
            return strtol(l + 17, NULL, 10);
    }
    return -1;
}

/* Send req, read one HTTP response: status into *status, body into
 * *reply. 0 or -1 (I/O error or a response this client cannot frame). */
static int http_exchange(SSL *ssl, const kh_buf *req, kh_buf *reply, int *status)
{
    size_t written = 0, got = 0, hl = 0;
    if (SSL_write_ex(ssl, req->data, req->len, &written) != 1 || written != req->len)
        return -1;
    reply->len = 0;
    kh_buf_reserve(reply, 4096);
    while ((hl = head_len(reply->data, reply->len)) == 0) {
        if (reply->len >= MAX_HTTP_HEAD)
            return -1;
        kh_buf_reserve(reply, 4096);
        if (SSL_read_ex(ssl, reply->data + reply->len, reply->cap - reply->len - 1, &got) != 1)
            return -1;
        reply->len += got;
    }
    char head[MAX_HTTP_HEAD + 1];
    memcpy(head, reply->data, hl);
    head[hl] = '\0';
    long clen = content_length(head);
    if (strncmp(head, "HTTP/1.1 ", 9) != 0 || clen < 0 || clen > (long)MAX_REPLY)
        return -1;
    *status = (int)strtol(head + 9, NULL, 10);
    size_t want = hl + (size_t)clen;
    kh_buf_reserve(reply, want > reply->len ? want - reply->len : 0);
    if (reply->len < want && read_full(ssl, reply->data + reply->len, want - reply->len) != 0)
        return -1;
    if (reply->len > want) /* one request in flight: nothing may follow */
        return -1;
    memmove(reply->data, reply->data + hl, (size_t)clen);
    reply->len = (size_t)clen;
    return 0;
}

static void build_http(kh_buf *out, const char *route, const char *body)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "PUT /v1/key/%s/%skes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     route, O.name_prefix, strlen(body));
    out->len = 0;
    kh_buf_append(out, head, (size_t)n);
    kh_buf_append(out, body, strlen(body));
}

/* ---- the request mix ------------------------------------------------------ */

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The request to send next, or NULL when the scenario is done. scratch
 * holds requests built on the fly. */
static const kh_buf *pick(worker *w, kh_buf *scratch)
{
    switch (O.scenario) {
    case S_GET:
        return &req_get;
    case S_ENCRYPT:
        return &req_encrypt;
    case S_CREATE:
        return &req_create;
    case S_LOCATE:
        return &req_locate[next_rand(&w->rng) % LOCATE_VARIANTS];
    case S_MIXED: {
        unsigned r = (unsigned)(next_rand(&w->rng) % 100);
        return r < 80 ? &req_get : r < 95 ? &req_encrypt : &req_create;
    }
    case S_PRELOAD: {
        long i = atomic_fetch_add(&preload_next, 1);
        if (i >= O.count)
            return NULL;
        char name[128];
        snprintf(name, sizeof(name), "%s%ld", O.name_prefix, i);
        kh_bench_req_create(scratch, name);
        return scratch;
    }
    case S_KES_GENERATE:
    case S_KES_DECRYPT:
        return &req_kes;
    case S_SETUP:
    case S_KES_SETUP:
        break;
    }
    return NULL;
}

static void record(worker *w, const kh_buf *reply, double t0, double t1)
{
    uint32_t status = 0, reason = 0;
    uint64_t us = (uint64_t)((t1 - t0) * 1e6);
    w->st.hist[bucket_of(us)]++;
    if (kh_bench_result(reply->data, reply->len, &status, &reason) != 0) {
        w->st.failed++;
        report_error("reply", "not a KMIP ResponseMessage");
    } else if (status == KH_RESULT_STATUS_SUCCESS) {
        w->st.ok++;
    } else if (reason == KH_RESULT_REASON_OPERATION_NOT_SUPPORTED) {
        w->st.unsupported++;
    } else {
        if (w->st.failed++ == 0)
            w->st.first_reason = reason;
    }
}

static void record_http(worker *w, int status, double t0, double t1)
{
    w->st.hist[bucket_of((uint64_t)((t1 - t0) * 1e6))]++;
    if (status == 200)
        w->st.ok++;
    else if (w->st.failed++ == 0)
        w->st.first_reason = (uint32_t)status;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    kh_buf reply = {0}, scratch = {0};
    SSL *ssl = tls_connect(w->idx);
    if (!ssl)
        w->st.conn_errors++;
    pthread_barrier_wait(&ready_barrier);
    pthread_barrier_wait(&go_barrier);
    while (now_s() < deadline) {
        if (!ssl) {
            usleep(10000); /* a refused or failing server must not spin us */
            if ((ssl = tls_connect(w->idx)) == NULL) {
                w->st.conn_errors++;
                continue;
            }
        }
        const kh_buf *req = pick(w, &scratch);
        if (!req)
            break;
        double t0 = now_s();
        int status = 0;
        if (is_http() ? http_exchange(ssl, req, &reply, &status) != 0
                      : exchange(ssl, req, &reply) != 0) {
            w->st.failed++;
            w->st.conn_errors++;
            report_error("connection broken", "request counted as failed; reconnecting");
            tls_close(&ssl);
            continue;
        }
        if (is_http())
            record_http(w, status, t0, now_s());
        else
            record(w, &reply, t0, now_s());
    }
    w->end = now_s();
    tls_close(&ssl);
    kh_buf_free(&reply);
    kh_buf_free(&scratch);
    return NULL;
}

/* ---- idle connections ----------------------------------------------------- */

typedef struct idle_set {
    SSL **ssl;
    unsigned n, opened, failed;
    atomic_uint next;
    double until;
} idle_set;

static void *idle_opener(void *arg)
{
    idle_set *s = arg;
    unsigned i;
    while ((i = atomic_fetch_add(&s->next, 1)) < s->n && now_s() < s->until)
        s->ssl[i] = tls_connect(i);
    return NULL;
}

/* Open n idle connections with two threads, within a bounded time. */
static void idle_open(idle_set *s, unsigned n)
{
    pthread_t t[2];
    s->ssl = calloc(n ? n : 1, sizeof(SSL *));
    if (!s->ssl)
        abort();
    s->n = n;
    atomic_init(&s->next, 0);
    s->until = now_s() + 300;
    for (int k = 0; k < 2; k++)
        pthread_create(&t[k], NULL, idle_opener, s);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    for (unsigned i = 0; i < n; i++)
        s->ssl[i] ? s->opened++ : s->failed++;
}

static void idle_close(idle_set *s)
{
    for (unsigned i = 0; i < s->n; i++)
        tls_close(&s->ssl[i]);
    free(s->ssl);
}

/* VmRSS / VmHWM of pid in KiB, -1 when unknown. */
static long proc_status_kib(long pid, const char *field)
{
    char path[64], line[256];
    long v = -1;
    size_t flen = strlen(field);
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':')
            v = strtol(line + flen + 1, NULL, 10);
    fclose(f);
    return v;
}

/* ---- runs ----------------------------------------------------------------- */

/* One request on a new connection; the reply's uid (setup). */
static char *one_call(const kh_buf *req, uint32_t *status)
{
    kh_buf reply = {0};
    char *uid = NULL;
    uint32_t reason = 0;
    SSL *ssl = tls_connect(0);
    *status = 1;
    if (ssl && exchange(ssl, req, &reply) == 0 &&
        kh_bench_result(reply.data, reply.len, status, &reason) == 0 && *status == 0)
        uid = kh_bench_result_uid(reply.data, reply.len);
    if (ssl && *status != 0)
        fprintf(stderr, "kh_loadgen: setup request failed (status %u reason %u)\n", *status,
                reason);
    tls_close(&ssl);
    kh_buf_free(&reply);
    return uid;
}

static int run_setup(void)
{
    kh_buf req = {0};
    uint32_t status;
    kh_bench_req_create(&req, NULL);
    char *uid = one_call(&req, &status);
    if (!uid)
        return 1;
    kh_bench_req_activate(&req, uid);
    free(one_call(&req, &status));
    kh_buf_free(&req);
    if (status != 0) {
        free(uid);
        return 1;
    }
    printf("%s\n", uid);
    free(uid);
    return 0;
}

/* One KES request on a new connection; its status, body into *reply. */
static int kes_call(const char *route, const char *body, kh_buf *reply)
{
    kh_buf req = {0};
    int status = 0;
    build_http(&req, route, body);
    SSL *ssl = tls_connect(0);
    if (!ssl || http_exchange(ssl, &req, reply, &status) != 0)
        status = -1;
    tls_close(&ssl);
    kh_buf_free(&req);
    return status;
}

static int run_kes_setup(void)
{
    kh_buf reply = {0};
    int st = kes_call("create", "{}", &reply), rc = 1;
    if (st != 200 && st != 400) {
        fprintf(stderr, "kh_loadgen: KES create answered %d\n", st);
        goto out;
    }
    if ((st = kes_call("generate", "{}", &reply)) != 200) {
        fprintf(stderr, "kh_loadgen: KES generate answered %d\n", st);
        goto out;
    }
    kh_buf_append_u8(&reply, 0);
    /* {"plaintext":"...","ciphertext":"..."}: the base64 of ciphertext. */
    const char *c = strstr((const char *)reply.data, "\"ciphertext\"");
    const char *q = c ? strchr(c + 12, '"') : NULL;
    const char *e = q ? strchr(q + 1, '"') : NULL;
    if (!e) {
        fprintf(stderr, "kh_loadgen: KES generate reply has no ciphertext\n");
        goto out;
    }
    printf("%.*s\n", (int)(e - q - 1), q + 1);
    rc = 0;
out:
    kh_buf_free(&reply);
    return rc;
}

static void build_requests(void)
{
    const char *uid = O.uid ? O.uid : "no-such-uid";
    kh_bench_req_get(&req_get, uid);
    kh_bench_req_encrypt(&req_encrypt, uid, 64);
    kh_bench_req_create(&req_create, NULL);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < LOCATE_VARIANTS; i++) {
        char name[128];
        long k = O.names > 0 ? (long)(next_rand(&s) % (uint64_t)O.names) : 0;
        snprintf(name, sizeof(name), "%s%ld", O.name_prefix, k);
        kh_bench_req_locate(&req_locate[i], name);
    }
    if (O.scenario == S_KES_GENERATE) {
        build_http(&req_kes, "generate", "{}");
    } else if (O.scenario == S_KES_DECRYPT) {
        char body[1024];
        snprintf(body, sizeof(body), "{\"ciphertext\":\"%s\"}", O.uid ? O.uid : "");
        build_http(&req_kes, "decrypt", body);
    }
}

static void print_result(const stats *t, double elapsed, const idle_set *idle, long rss_idle,
                         long rss_end, long hwm)
{
    uint64_t done = 0;
    for (unsigned b = 0; b < NBUCKETS; b++)
        done += t->hist[b];
    printf("{\"server\": \"%s\", \"scenario\": \"%s\", \"conns\": %u, \"idle\": %u, "
           "\"idle_open\": %u, \"seconds\": %.3f, \"requests\": %llu, \"ok\": %llu, "
           "\"failed\": %llu, \"unsupported\": %llu, \"conn_errors\": %llu, "
           "\"first_reason\": %u, \"rps\": %.1f, \"ok_rps\": %.1f, \"p50_us\": %.0f, "
           "\"p99_us\": %.0f, \"p999_us\": %.0f, \"rss_idle_kib\": %ld, \"rss_kib\": %ld, "
           "\"hwm_kib\": %ld}\n",
           O.label, scenario_names[O.scenario], O.conns, idle->n, idle->opened, elapsed,
           (unsigned long long)done, (unsigned long long)t->ok, (unsigned long long)t->failed,
           (unsigned long long)t->unsupported, (unsigned long long)t->conn_errors, t->first_reason,
           elapsed > 0 ? (double)done / elapsed : 0, elapsed > 0 ? (double)t->ok / elapsed : 0,
           percentile(t->hist, done, 0.50), percentile(t->hist, done, 0.99),
           percentile(t->hist, done, 0.999), rss_idle, rss_end, hwm);
}

static int run_load(void)
{
    worker *w = calloc(O.conns, sizeof(*w));
    idle_set idle = {0};
    stats *total = calloc(1, sizeof(*total));
    if (!w || !total)
        abort();
    build_requests();
    atomic_init(&preload_next, 0);
    idle_open(&idle, O.idle);
    if (idle.failed)
        fprintf(stderr, "kh_loadgen[%s]: %u of %u idle connections failed to open\n", O.label,
                idle.failed, idle.n);
    long rss_idle = O.rss_pid > 0 ? proc_status_kib(O.rss_pid, "VmRSS") : -1;
    pthread_barrier_init(&ready_barrier, NULL, O.conns + 1);
    pthread_barrier_init(&go_barrier, NULL, O.conns + 1);
    for (unsigned i = 0; i < O.conns; i++) {
        w[i].idx = i;
        w[i].rng = 0x2545f4914f6cdd1dull * (i + 1);
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "kh_loadgen: cannot start thread %u\n", i);
            abort();
        }
    }
    pthread_barrier_wait(&ready_barrier); /* every connection is up (or failed) */
    double start = now_s();
    deadline = start + O.seconds;
    pthread_barrier_wait(&go_barrier);
    double end = start;
    for (unsigned i = 0; i < O.conns; i++) {
        pthread_join(w[i].tid, NULL);
        if (w[i].end > end)
            end = w[i].end;
        stats *s = &w[i].st;
        total->ok += s->ok;
        total->failed += s->failed;
        total->unsupported += s->unsupported;
        total->conn_errors += s->conn_errors;
        if (!total->first_reason)
            total->first_reason = s->first_reason;
        for (unsigned b = 0; b < NBUCKETS; b++)
            total->hist[b] += s->hist[b];
    }
    long rss = O.rss_pid > 0 ? proc_status_kib(O.rss_pid, "VmRSS") : -1;
    long hwm = O.rss_pid > 0 ? proc_status_kib(O.rss_pid, "VmHWM") : -1;
    total->conn_errors += idle.failed;
    print_result(total, end - start, &idle, rss_idle, rss, hwm);
    idle_close(&idle);
    pthread_barrier_destroy(&ready_barrier);
    pthread_barrier_destroy(&go_barrier);
    free(w);
    free(total);
    return 0;
}

/* ---- command line --------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: kh_loadgen --scenario setup|get|encrypt|create|locate|mixed|preload|\n"
                    "  kes-setup|kes-generate|kes-decrypt\n"
                    "  --port N[,N...] --ca F --cert F --key F [--label NAME] [--conns N]\n"
                    "  [--seconds T] [--idle N] [--uid UID] [--names N] [--name-prefix P]\n"
                    "  [--count N] [--timeout-ms N] [--rss-pid PID]\n");
    return 2;
}

static int num(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* "P" or "P1,P2,...": the busy and idle connections are spread over them. */
static int parse_ports(const char *val)
{
    char buf[64];
    long v;
    if (strlen(val) >= sizeof(buf))
        return -1;
    strcpy(buf, val);
    O.nports = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (O.nports == MAX_PORTS || num(t, 1, 65535, &v) != 0)
            return -1;
        O.port[O.nports++] = (int)v;
    }
    return O.nports ? 0 : -1;
}

static int parse_args(int argc, char **argv)
{
    long v;
    O.scenario = S_GET;
    O.conns = 1;
    O.seconds = 5;
    O.timeout_ms = 10000;
    O.label = "server";
    O.name_prefix = "bench-";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = !val;
        if (bad)
            return -1;
        if (strcmp(a, "--scenario") == 0) {
            size_t k = 0;
            while (k < sizeof(scenario_names) / sizeof(*scenario_names) &&
                   strcmp(val, scenario_names[k]) != 0)
                k++;
            bad = k == sizeof(scenario_names) / sizeof(*scenario_names);
            O.scenario = (enum scenario)k;
        } else if (strcmp(a, "--port") == 0) {
            bad = parse_ports(val) != 0;
        } else if (strcmp(a, "--conns") == 0) {
            bad = num(val, 1, MAX_CONNS, &v) != 0;
            O.conns = (unsigned)v;
        } else if (strcmp(a, "--idle") == 0) {
            bad = num(val, 0, 100000, &v) != 0;
            O.idle = (unsigned)v;
        } else if (strcmp(a, "--seconds") == 0) {
            char *end = NULL;
            O.seconds = strtod(val, &end);
            bad = *end || !(O.seconds > 0 && O.seconds <= 86400);
        } else if (strcmp(a, "--count") == 0) {
            bad = num(val, 0, 100000000, &O.count) != 0;
        } else if (strcmp(a, "--names") == 0) {
            bad = num(val, 0, 100000000, &O.names) != 0;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            bad = num(val, 1, 3600000, &v) != 0;
            O.timeout_ms = (unsigned)v;
        } else if (strcmp(a, "--rss-pid") == 0) {
            bad = num(val, 1, 1L << 30, &O.rss_pid) != 0;
        } else if (strcmp(a, "--ca") == 0) {
            O.ca = val;
        } else if (strcmp(a, "--cert") == 0) {
            O.cert = val;
        } else if (strcmp(a, "--key") == 0) {
            O.key = val;
        } else if (strcmp(a, "--uid") == 0) {
            O.uid = val;
        } else if (strcmp(a, "--label") == 0) {
            O.label = val;
        } else if (strcmp(a, "--name-prefix") == 0) {
            O.name_prefix = val;
        } else {
            bad = 1;
        }
        if (bad)
            return -1;
    }
    return O.nports && O.ca && O.cert && O.key ? 0 : -1;
}

static int make_ctx(void)
{
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, O.ca, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, O.cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, O.key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return -1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* Each connection does one full handshake, as a fresh client would. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0)
        return usage();
    if (make_ctx() != 0)
        return 1;
    int rc = O.scenario == S_SETUP       ? run_setup()
             : O.scenario == S_KES_SETUP ? run_kes_setup()
                                         : run_load();
    kh_buf_free(&req_get);
    kh_buf_free(&req_encrypt);
    kh_buf_free(&req_create);
    kh_buf_free(&req_kes);
    for (int i = 0; i < LOCATE_VARIANTS; i++)
        kh_buf_free(&req_locate[i]);
    SSL_CTX_free(ctx);
    return rc;
}
