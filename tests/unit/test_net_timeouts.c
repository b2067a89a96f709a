/*
 * test_net_timeouts.c - the TLS listener's deadlines and disconnects:
 * stalled and trickling clients, idle timeouts, and clients that go away
 * while their request is being handled (harness: net_harness.h).
 */
#include "net_harness.h"

#include "common/log.h"
#include "net/workers.h"

#include <openssl/err.h>

#include <errno.h>
#include <pthread.h>
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

int main(void)
{
    if (!getenv("KH_TEST_VERBOSE"))
        kh_log_set_level(KH_LOG_ERROR);
    if (getenv("KH_TEST_FILTER"))
        cmocka_set_test_filter(getenv("KH_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stalled_client_does_not_block_others),
        cmocka_unit_test(test_trickling_client_is_cut_off),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_disconnect_during_slow_handler),
        cmocka_unit_test(test_reply_after_client_close_notify),
        cmocka_unit_test(test_reply_after_client_half_close),
        cmocka_unit_test(test_idle_timeout_paused_while_busy),
        cmocka_unit_test(test_idle_deadline_moves_with_activity),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
