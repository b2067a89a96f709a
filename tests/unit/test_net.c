/*
 * test_net.c - the TLS listener, framing and the worker pool: echo and
 * principal, TLS policy, concurrency and ordering, refusals, bad input,
 * limits and shutdown. Timeouts and disconnects are in
 * test_net_timeouts.c; the shared harness is net_harness.h.
 */
#include "net_harness.h"

#include "common/log.h"
#include "net/workers.h"

#include <openssl/err.h>

#include <errno.h>
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
    kh_proto_handler h = {0, toy_frame, toy_handle, toy_error, NULL, NULL};
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
        cmocka_unit_test(test_many_pipelined_messages),
        cmocka_unit_test(test_full_queue_answers_busy),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_optional_client_cert),
        cmocka_unit_test(test_stop_paths),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
