/*
 * test_store_audit.c - the hash-chained audit log on every backend: the
 * chain, tamper detection, concurrent and batched appends, and writes that
 * carry their audit row, KES name claims among them (fixture:
 * store_harness.h).
 */
#include "store_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/mem.h"
#include "ops/audit.h"
#include "store/audit_chain.h"
#include "store/store.h"

#include <fcntl.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- audit log ------------------------------------------------------------- */

static void audit_append(kh_store *s, const char *who, const char *op, const char *uid, int64_t t)
{
    kh_audit_row r = {0};
    r.time_us = t;
    r.principal = (char *)who;
    r.client_addr = "127.0.0.1:4242";
    r.operation = (char *)op;
    r.object_uid = (char *)uid;
    r.result = "KH_OK";
    assert_int_equal(kh_store_audit_append(s, &r), KH_OK);
    assert_true(r.id > 0);
}

static void audit_five(fixture *f)
{
    static const char *const ops[] = {"Create", "Get", "Encrypt", "Revoke", "Destroy"};
    for (int i = 0; i < 5; i++)
        audit_append(f->s, "alice", ops[i], i % 2 ? "uid-1" : "", 1700000000000000 + i);
}

static int64_t verify_broken(fixture *f, int64_t *rows)
{
    kh_audit_report rep;
    assert_int_equal(kh_audit_verify(f->s, &rep), KH_OK);
    if (rows)
        *rows = rep.rows;
    return rep.broken_id;
}

static void test_audit_chain(void **state)
{
    fixture *f = *state;
    int64_t rows = -1, head = -1;
    uint8_t h[KH_AUDIT_HASH_LEN], prev[KH_AUDIT_HASH_LEN] = {0};
    assert_int_equal(verify_broken(f, &rows), 0); /* empty chain */
    assert_int_equal(rows, 0);
    audit_five(f);
    kh_audit_row *got = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_audit_read(f->s, 0, 100, &got, &n), KH_OK);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i].id, (int64_t)i + 1);
        assert_int_equal(got[i].time_us, 1700000000000000 + (int64_t)i);
        assert_string_equal(got[i].client_addr, "127.0.0.1:4242");
        assert_int_equal(kh_audit_chain_hash(prev, &got[i], h), KH_OK);
        assert_memory_equal(h, got[i].hash, KH_AUDIT_HASH_LEN);
        memcpy(prev, h, sizeof(h));
    }
    kh_audit_rows_free(got, n);
    assert_int_equal(kh_store_audit_read(f->s, 3, 1, &got, &n), KH_OK); /* paging */
    assert_int_equal(n, 1);
    assert_int_equal(got[0].id, 4);
    kh_audit_rows_free(got, n);
    assert_int_equal(kh_store_audit_head(f->s, &head, h), KH_OK);
    assert_int_equal(head, 5);
    assert_memory_equal(h, prev, KH_AUDIT_HASH_LEN);
    assert_int_equal(verify_broken(f, &rows), 0);
    assert_int_equal(rows, 5);
    reopen(f); /* the chain continues across restarts */
    audit_append(f->s, "bob", "Get", "x", 1);
    assert_int_equal(verify_broken(f, &rows), 0);
    assert_int_equal(rows, 6);
}

static void test_audit_edit_detected(void **state)
{
    fixture *f = *state;
    int64_t rows = -1;
    audit_five(f);
    raw_exec(f, "UPDATE audit SET result = 'KH_ERR_PERMISSION' WHERE id = 3");
    assert_int_equal(verify_broken(f, &rows), 3);
    assert_int_equal(rows, 2);
}

static void test_audit_time_edit_detected(void **state)
{
    fixture *f = *state;
    audit_five(f);
    raw_exec(f, "UPDATE audit SET time_us = time_us + 1 WHERE id = 4");
    assert_int_equal(verify_broken(f, NULL), 4);
}

static void test_audit_delete_detected(void **state)
{
    fixture *f = *state;
    audit_five(f);
    raw_exec(f, "DELETE FROM audit WHERE id = 2");
    assert_int_equal(verify_broken(f, NULL), 2);
}

static void test_audit_truncation_detected(void **state)
{
    fixture *f = *state;
    audit_five(f);
    raw_exec(f, "DELETE FROM audit WHERE id = 5");
    assert_int_equal(verify_broken(f, NULL), 5);
}

static void test_audit_refuses_bad_rows(void **state)
{
    fixture *f = *state;
    kh_audit_row r = {0};
    r.principal = "alice";
    r.client_addr = "";
    r.operation = "Get";
    r.object_uid = NULL; /* every field is required */
    r.result = "KH_OK";
    assert_int_equal(kh_store_audit_append(f->s, &r), KH_ERR_INVALID_ARG);
    assert_int_equal(verify_broken(f, NULL), 0);
}

#define AUDIT_THREADS 8
#define AUDIT_PER_THREAD 25

typedef struct audit_worker {
    kh_store *s;
    int failures;
} audit_worker;

static void *audit_worker_fn(void *arg)
{
    audit_worker *w = arg;
    for (int i = 0; i < AUDIT_PER_THREAD; i++) {
        kh_audit_row r = {0};
        r.time_us = i;
        r.principal = "p";
        r.client_addr = "";
        r.operation = "Get";
        r.object_uid = "";
        r.result = "KH_OK";
        if (kh_store_audit_append(w->s, &r) != KH_OK)
            w->failures++;
    }
    return NULL;
}

/* Appends from many threads and two store handles (two nodes on
 * PostgreSQL, two pools on SQLite) still form one unbroken chain. */
static void test_audit_concurrent(void **state)
{
    fixture *f = *state;
    kh_store *other = NULL;
    pthread_t t[AUDIT_THREADS];
    audit_worker w[AUDIT_THREADS];
    int64_t rows = -1;
    assert_int_equal(kh_store_open(f->url, &other), KH_OK);
    for (int i = 0; i < AUDIT_THREADS; i++) {
        w[i] = (audit_worker){i % 2 ? other : f->s, 0};
        assert_int_equal(pthread_create(&t[i], NULL, audit_worker_fn, &w[i]), 0);
    }
    for (int i = 0; i < AUDIT_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    kh_store_close(&other);
    assert_int_equal(verify_broken(f, &rows), 0);
    assert_int_equal(rows, AUDIT_THREADS * AUDIT_PER_THREAD);
}

/* Batching: appends from many threads of one handle, interleaved with
 * object inserts of which half fail (a taken uid), share transactions.
 * Every caller must get back its own id and hash, the ids must be 1..N
 * without gaps or repeats, and the chain must verify. */
#define BATCH_THREADS 12
#define BATCH_PER_THREAD 20

typedef struct batch_worker {
    fixture *f;
    int id;
    int failures;
    int64_t ids[BATCH_PER_THREAD];
    uint8_t hashes[BATCH_PER_THREAD][KH_AUDIT_HASH_LEN];
} batch_worker;

static void *batch_worker_fn(void *arg)
{
    batch_worker *w = arg;
    char who[16], uid[32];
    snprintf(who, sizeof(who), "p%d", w->id);
    for (int i = 0; i < BATCH_PER_THREAD; i++) {
        kh_audit_row r = {0};
        snprintf(uid, sizeof(uid), i % 2 ? "b-taken" : "b%d-%d", w->id, i);
        kh_obj_row o = make_row(w->f, uid, "alice", 2, i);
        kh_err ins = kh_store_object_insert(w->f->s, &o);
        r.time_us = 1000 * w->id + i; /* says whose row it is */
        r.principal = who;
        r.client_addr = "";
        r.operation = "Create";
        r.object_uid = uid;
        r.result = (char *)kh_err_name(ins);
        r.sync_later = w->id % 3 == 0; /* some callers may be flushed later */
        if (kh_store_audit_append(w->f->s, &r) != KH_OK)
            w->failures++;
        w->ids[i] = r.id;
        memcpy(w->hashes[i], r.hash, KH_AUDIT_HASH_LEN);
    }
    return NULL;
}

static void test_audit_batched_appends(void **state)
{
    fixture *f = *state;
    enum { N = BATCH_THREADS * BATCH_PER_THREAD };
    pthread_t t[BATCH_THREADS];
    batch_worker *w = kh_xcalloc(BATCH_THREADS, sizeof(*w));
    uint8_t seen[N + 1] = {0};
    insert_simple(f, "b-taken", "alice", 2, 0);
    for (int i = 0; i < BATCH_THREADS; i++) {
        w[i].f = f;
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, batch_worker_fn, &w[i]), 0);
    }
    for (int i = 0; i < BATCH_THREADS; i++)
        pthread_join(t[i], NULL);
    int64_t rows = -1;
    assert_int_equal(verify_broken(f, &rows), 0);
    assert_int_equal(rows, N);
    kh_audit_row *got = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_audit_read(f->s, 0, N + 1, &got, &n), KH_OK);
    assert_int_equal(n, N);
    for (int i = 0; i < BATCH_THREADS; i++) {
        assert_int_equal(w[i].failures, 0);
        for (int j = 0; j < BATCH_PER_THREAD; j++) {
            int64_t id = w[i].ids[j];
            assert_true(id >= 1 && id <= N);
            assert_int_equal(seen[id]++, 0);
            const kh_audit_row *r = &got[id - 1];
            assert_int_equal(r->id, id);
            assert_int_equal(r->time_us, 1000 * i + j);
            assert_memory_equal(r->hash, w[i].hashes[j], KH_AUDIT_HASH_LEN);
            assert_string_equal(r->result, j % 2 ? "KH_ERR_EXISTS" : "KH_OK");
            if (j > 0) /* one thread's rows keep its order */
                assert_true(id > w[i].ids[j - 1]);
        }
    }
    kh_audit_rows_free(got, n);
    free(w);
}

/* Rows that may be flushed after the append returns (read-only operations
 * with --audit-sync-reads=false) are still chained, numbered and kept:
 * alone, mixed with durable rows, and across a reopen of the store. */
static void test_audit_sync_later(void **state)
{
    fixture *f = *state;
    int64_t rows = -1;
    for (int i = 0; i < 6; i++) {
        kh_audit_row r = {0};
        r.time_us = i;
        r.principal = "p";
        r.client_addr = "";
        r.operation = i == 3 ? "Create" : "Get";
        r.object_uid = "u";
        r.result = "KH_OK";
        r.sync_later = i != 3;
        assert_int_equal(kh_store_audit_append(f->s, &r), KH_OK);
        assert_int_equal(r.id, i + 1);
    }
    reopen(f);
    assert_int_equal(verify_broken(f, &rows), 0);
    assert_int_equal(rows, 6);
    /* durable writes after them still work on the same pool */
    insert_simple(f, "after-lazy", "alice", 2, 0);
    audit_append(f->s, "bob", "Destroy", "after-lazy", 7);
    assert_int_equal(verify_broken(f, &rows), 0);
    assert_int_equal(rows, 7);
}

/* ---- writes carrying their audit row (store.h, *_audited) ------------------ */

static int64_t head_id(fixture *f)
{
    int64_t id = -1;
    uint8_t h[KH_AUDIT_HASH_LEN];
    assert_int_equal(kh_store_audit_head(f->s, &id, h), KH_OK);
    return id;
}

/* A write and its row commit together; a failed write leaves no row (and
 * no object), and the failure row appended next takes the next id. */
static void test_audited_writes(void **state)
{
    fixture *f = *state;
    kh_obj_row a = make_row(f, "aud-a", "alice", 2, 1);
    const kh_obj_row *one[] = {&a};
    kh_audit_row r = audit_op_row("Create", "aud-a", "KH_OK");
    assert_int_equal(kh_store_object_insert_audited(f->s, one, 1, &r), KH_OK);
    assert_int_equal(r.id, 1);
    assert_int_equal(head_id(f), 1);

    /* a taken uid: neither the object nor the row */
    kh_obj_row b = make_row(f, "aud-b", "alice", 2, 2);
    const kh_obj_row *two[] = {&b, &a};
    r = audit_op_row("CreateKeyPair", "", "KH_OK");
    assert_int_equal(kh_store_object_insert_audited(f->s, two, 2, &r), KH_ERR_EXISTS);
    assert_int_equal(head_id(f), 1);
    kh_obj_row *got = NULL;
    assert_int_equal(kh_store_object_get(f->s, "aud-b", &got), KH_ERR_NOT_FOUND);
    r = audit_op_row("CreateKeyPair", "", "KH_ERR_EXISTS"); /* what ops/audit.c appends then */
    assert_int_equal(kh_store_audit_append(f->s, &r), KH_OK);
    assert_int_equal(r.id, 2);

    /* updates: a stale revision writes nothing; the current one both */
    assert_int_equal(kh_store_object_get(f->s, "aud-a", &got), KH_OK);
    kh_obj_row upd = *got;
    upd.state = 2;
    upd.revision = got->revision + 1;
    r = audit_op_row("Activate", "aud-a", "KH_OK");
    assert_int_equal(kh_store_object_update_audited(f->s, &upd, &r), KH_ERR_CONFLICT);
    assert_int_equal(head_id(f), 2);
    upd.revision = got->revision;
    assert_int_equal(kh_store_object_update_audited(f->s, &upd, &r), KH_OK);
    assert_int_equal(r.id, 3);
    kh_obj_row_free(&got);
    assert_int_equal(kh_store_object_get(f->s, "aud-a", &got), KH_OK);
    assert_int_equal(got->state, 2);
    kh_obj_row_free(&got);
    upd = make_row(f, "aud-none", "alice", 2, 3);
    r = audit_op_row("Destroy", "aud-none", "KH_OK");
    assert_int_equal(kh_store_object_update_audited(f->s, &upd, &r), KH_ERR_NOT_FOUND);
    r.principal = NULL; /* a bad row refuses the write too */
    assert_int_equal(kh_store_object_insert_audited(f->s, one, 1, &r), KH_ERR_INVALID_ARG);

    kh_audit_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_audit_read(f->s, 0, 10, &rows, &n), KH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].operation, "Create");
    assert_string_equal(rows[1].result, "KH_ERR_EXISTS");
    assert_string_equal(rows[2].operation, "Activate");
    kh_audit_rows_free(rows, n);
    reopen(f);
    int64_t total = -1;
    assert_int_equal(verify_broken(f, &total), 0);
    assert_int_equal(total, 3);
}

/* The whole log, which must be an intact chain of exactly n rows. */
static kh_audit_row *read_intact(fixture *f, size_t n)
{
    int64_t total = -1;
    kh_audit_row *rows = NULL;
    size_t got = 0;
    assert_int_equal(verify_broken(f, &total), 0);
    assert_int_equal(total, (int64_t)n);
    assert_int_equal(kh_store_audit_read(f->s, 0, n + 1, &rows, &got), KH_OK);
    assert_int_equal(got, n);
    return rows;
}

/* Many threads: writes carrying rows (half of them failing on a taken
 * uid, then appending their failure row), plain appends and plain writes,
 * all in shared batches. One row per operation, ids 1..N, each row where
 * its write is. */
#define CARRY_THREADS 8
#define CARRY_PER_THREAD 16

typedef struct carry_worker {
    fixture *f;
    int id;
    int failures;
} carry_worker;

static void *carry_worker_fn(void *arg)
{
    carry_worker *w = arg;
    char uid[32];
    for (int i = 0; i < CARRY_PER_THREAD; i++) {
        snprintf(uid, sizeof(uid), i % 2 ? "c-taken" : "c%d-%d", w->id, i);
        kh_obj_row o = make_row(w->f, uid, "alice", 2, i);
        const kh_obj_row *rows[] = {&o};
        kh_audit_row r = audit_op_row("Create", uid, "KH_OK");
        r.time_us = 1000 * w->id + i;
        kh_err err = w->id % 4 == 3 ? kh_store_object_insert(w->f->s, &o)
                                    : kh_store_object_insert_audited(w->f->s, rows, 1, &r);
        if (err != KH_OK || w->id % 4 == 3) {
            r = audit_op_row("Create", uid, kh_err_name(err));
            r.time_us = 1000 * w->id + i;
            r.sync_later = w->id % 4 == 1;
            if (kh_store_audit_append(w->f->s, &r) != KH_OK)
                w->failures++;
        }
        if ((err == KH_OK) == (i % 2 == 1))
            w->failures++; /* the taken uid must fail, the others not */
    }
    return NULL;
}

static void test_audited_writes_concurrent(void **state)
{
    fixture *f = *state;
    enum { N = CARRY_THREADS * CARRY_PER_THREAD };
    pthread_t t[CARRY_THREADS];
    carry_worker w[CARRY_THREADS];
    int seen[CARRY_THREADS][CARRY_PER_THREAD] = {{0}};
    insert_simple(f, "c-taken", "alice", 2, 0);
    for (int i = 0; i < CARRY_THREADS; i++) {
        w[i] = (carry_worker){f, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, carry_worker_fn, &w[i]), 0);
    }
    for (int i = 0; i < CARRY_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    size_t n = N;
    kh_audit_row *rows = read_intact(f, n);
    for (size_t k = 0; k < n; k++) {
        int who = (int)(rows[k].time_us / 1000), i = (int)(rows[k].time_us % 1000);
        assert_true(who < CARRY_THREADS && i < CARRY_PER_THREAD);
        assert_int_equal(seen[who][i]++, 0);
        assert_string_equal(rows[k].result, i % 2 ? "KH_ERR_EXISTS" : "KH_OK");
        kh_obj_row *o = NULL;
        kh_err err = kh_store_object_get(f->s, rows[k].object_uid, &o);
        assert_int_equal(err, KH_OK); /* c-taken for the failures */
        kh_obj_row_free(&o);
    }
    kh_audit_rows_free(rows, n);
}

/* Rows handed over without waiting (kh_store_audit_append_async), from
 * many threads, among waiting writers and appends: every callback comes
 * exactly once with KH_OK, after which its row holds its id, and the chain
 * holds every row once. On SQLite the committer thread leads part of it. */
#define ASYNC_THREADS 6
#define ASYNC_PER_THREAD 40

typedef struct async_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, failed;
} async_state;

typedef struct async_row {
    kh_audit_row row;
    char uid[32];
    async_state *st;
    int calls;
} async_row;

typedef struct async_worker {
    fixture *f;
    int id;
    async_state *st;
    async_row *rows; /* ASYNC_PER_THREAD */
    int failures;
} async_worker;

static void async_done(void *arg, kh_err err)
{
    async_row *a = arg;
    pthread_mutex_lock(&a->st->mu);
    a->calls++;
    a->st->done++;
    a->st->failed += err != KH_OK || a->row.id <= 0;
    pthread_cond_signal(&a->st->cv);
    pthread_mutex_unlock(&a->st->mu);
}

static void *async_worker_fn(void *arg)
{
    async_worker *w = arg;
    for (int i = 0; i < ASYNC_PER_THREAD; i++) {
        async_row *a = &w->rows[i];
        snprintf(a->uid, sizeof(a->uid), "a%d-%d", w->id, i);
        a->row = audit_op_row(i % 3 ? "Get" : "Encrypt", a->uid, "KH_OK");
        a->row.time_us = 1000 * w->id + i;
        a->row.sync_later = i % 2 == 0;
        a->st = w->st;
        if (w->id % 3 != 2) {
            kh_store_audit_append_async(w->f->s, &a->row, async_done, a);
            continue;
        }
        /* every third thread waits: writes carrying rows and plain appends */
        kh_obj_row o = make_row(w->f, a->uid, "alice", 2, i);
        const kh_obj_row *rows[] = {&o};
        kh_err err = i % 2 ? kh_store_object_insert_audited(w->f->s, rows, 1, &a->row)
                           : kh_store_audit_append(w->f->s, &a->row);
        w->failures += err != KH_OK;
        async_done(a, err); /* counted like the others */
    }
    return NULL;
}

static void test_audit_async(void **state)
{
    fixture *f = *state;
    enum { N = ASYNC_THREADS * ASYNC_PER_THREAD };
    async_state st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    pthread_t t[ASYNC_THREADS];
    async_worker w[ASYNC_THREADS];
    async_row *rows = kh_xcalloc(N, sizeof(*rows));
    for (int i = 0; i < ASYNC_THREADS; i++) {
        w[i] = (async_worker){f, i, &st, rows + i * ASYNC_PER_THREAD, 0};
        assert_int_equal(pthread_create(&t[i], NULL, async_worker_fn, &w[i]), 0);
    }
    for (int i = 0; i < ASYNC_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60; /* a lost callback fails here instead of hanging */
    pthread_mutex_lock(&st.mu);
    while (st.done < N && pthread_cond_timedwait(&st.cv, &st.mu, &until) == 0)
        ;
    pthread_mutex_unlock(&st.mu);
    assert_int_equal(st.done, N);
    assert_int_equal(st.failed, 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(rows[i].calls, 1);
    size_t n = N;
    kh_audit_row *got = read_intact(f, n);
    for (size_t k = 0; k < n; k++) { /* each row once, where its id says */
        int who = (int)(got[k].time_us / 1000), i = (int)(got[k].time_us % 1000);
        assert_true(who < ASYNC_THREADS && i < ASYNC_PER_THREAD);
        const async_row *a = &rows[who * ASYNC_PER_THREAD + i];
        assert_int_equal(a->row.id, got[k].id);
        assert_string_equal(got[k].object_uid, a->uid);
    }
    kh_audit_rows_free(got, n);
    free(rows);
    reopen(f); /* closing stops the committer; everything stays */
    kh_audit_rows_free(read_intact(f, N), N);
}

/* KES names: one holder per (owner, name); taken over only from the
 * holder the taker names. */
static void test_kes_names(void **state)
{
    fixture *f = *state;
    char *h = NULL;
    assert_int_equal(kh_store_kes_name_get(f->s, "kes", "k", &h), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_kes_name_claim(f->s, "kes", "k", "pending:1:a", NULL), KH_OK);
    assert_int_equal(kh_store_kes_name_claim(f->s, "kes", "k", "pending:1:b", NULL), KH_ERR_EXISTS);
    assert_int_equal(kh_store_kes_name_claim(f->s, "kes", "k", "uid-b", "pending:1:b"),
                     KH_ERR_EXISTS); /* b never held it */
    assert_int_equal(kh_store_kes_name_claim(f->s, "kes", "k", "uid-a", "pending:1:a"), KH_OK);
    assert_int_equal(kh_store_kes_name_get(f->s, "kes", "k", &h), KH_OK);
    assert_string_equal(h, "uid-a");
    free(h);
    /* another owner's namespace is another name */
    assert_int_equal(kh_store_kes_name_claim(f->s, "alice", "k", "uid-c", NULL), KH_OK);
    assert_int_equal(kh_store_kes_name_claim(f->s, "kes", "k", "uid-d", "uid-a"), KH_OK);
    assert_int_equal(kh_store_kes_name_get(f->s, "kes", "k", &h), KH_OK);
    assert_string_equal(h, "uid-d");
    free(h);
    assert_int_equal(kh_store_kes_name_get(f->s, "alice", "k", &h), KH_OK);
    assert_string_equal(h, "uid-c");
    free(h);
    assert_int_equal(kh_store_kes_name_claim(f->s, "kes", "", "x", NULL), KH_ERR_INVALID_ARG);
    /* a claim carrying its audit row: both or neither */
    kh_audit_row r = audit_op_row("kes_key_create", "uid-e", "KH_OK");
    assert_int_equal(kh_store_kes_name_claim_audited(f->s, "kes", "k", "uid-e", "uid-a", &r),
                     KH_ERR_EXISTS);
    assert_int_equal(head_id(f), 0);
    assert_int_equal(kh_store_kes_name_claim_audited(f->s, "kes", "k", "uid-e", "uid-d", &r),
                     KH_OK);
    assert_int_equal(r.id, 1);
    assert_int_equal(kh_store_kes_name_get(f->s, "kes", "k", &h), KH_OK);
    assert_string_equal(h, "uid-e");
    free(h);
    int64_t total = -1;
    assert_int_equal(verify_broken(f, &total), 0);
    assert_int_equal(total, 1);
}

/* The store contract: every backend passes all of these. */
#define CONTRACT_TESTS(setup)                                                                      \
    cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(test_audit_edit_detected, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_audit_time_edit_detected, setup, teardown),           \
        cmocka_unit_test_setup_teardown(test_audit_delete_detected, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_audit_truncation_detected, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_audit_refuses_bad_rows, setup, teardown),             \
        cmocka_unit_test_setup_teardown(test_audit_concurrent, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_audit_batched_appends, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_audit_sync_later, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_audited_writes, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_audited_writes_concurrent, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_audit_async, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_kes_names, setup, teardown)

int main(void)
{
    store_harness_init();
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup_sqlite),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(setup_pg),
    };
    return store_harness_run(sqlite_tests, sizeof(sqlite_tests) / sizeof(sqlite_tests[0]), pg_tests,
                             sizeof(pg_tests) / sizeof(pg_tests[0]));
}
