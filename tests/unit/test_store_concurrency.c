/*
 * test_store_concurrency.c - the store under concurrent writers, several
 * stores on one database (several nodes), and PostgreSQL reconnection
 * (fixture: store_harness.h).
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

/* ---- concurrency ----------------------------------------------------------- */

#define N_THREADS 12
#define PER_THREAD 15

typedef struct worker {
    fixture *f;
    int id;
    int failures;
    int conflicts;
} worker;

static void *insert_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char uid[32];
        snprintf(uid, sizeof(uid), "t%d-%d", w->id, i);
        kh_obj_row r = make_row(w->f, uid, "alice", 2, i);
        if (kh_store_object_insert(w->f->s, &r) != KH_OK)
            w->failures++;
    }
    return NULL;
}

static void *update_worker(void *arg)
{
    worker *w = arg;
    kh_obj_row r = make_row(w->f, "contended", "alice", 2, 0);
    r.revision = 1; /* everyone read revision 1 */
    r.state = w->id;
    kh_err err = kh_store_object_update(w->f->s, &r);
    if (err == KH_ERR_CONFLICT)
        w->conflicts++;
    else if (err != KH_OK)
        w->failures++;
    return NULL;
}

/* Every other insert reuses a taken uid: with group commit these share
 * transactions with good inserts, which must still land. */
static void *mixed_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        char uid[32];
        if (i % 2)
            snprintf(uid, sizeof(uid), "taken-%d", i % 3);
        else
            snprintf(uid, sizeof(uid), "m%d-%d", w->id, i);
        kh_obj_row r = make_row(w->f, uid, "alice", 2, i);
        kh_err err = kh_store_object_insert(w->f->s, &r);
        if (i % 2 ? err != KH_ERR_EXISTS : err != KH_OK)
            w->failures++;
    }
    return NULL;
}

static void run_workers(fixture *f, void *(*fn)(void *), worker *ws)
{
    pthread_t t[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        ws[i] = (worker){f, i, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, fn, &ws[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(t[i], NULL);
}

static void test_concurrent(void **state)
{
    fixture *f = *state;
    worker ws[N_THREADS];
    run_workers(f, insert_worker, ws);
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(ws[i].failures, 0);
    kh_locate_query q;
    char **uids = NULL;
    size_t n = 0;
    kh_locate_query_init(&q);
    assert_int_equal(kh_store_object_locate(f->s, &q, &uids, &n), KH_OK);
    assert_int_equal(n, N_THREADS * PER_THREAD);
    for (size_t i = 0; i < n; i++)
        free(uids[i]);
    free(uids);

    insert_simple(f, "contended", "alice", 2, 0);
    run_workers(f, update_worker, ws);
    int conflicts = 0;
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(ws[i].failures, 0);
        conflicts += ws[i].conflicts;
    }
    assert_int_equal(conflicts, N_THREADS - 1); /* exactly one winner */
    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_object_get(f->s, "contended", &g), KH_OK);
    assert_int_equal(g->revision, 2);
    kh_obj_row_free(&g);
}

static void test_concurrent_batches_isolate_failures(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 3; i++) {
        char uid[32];
        snprintf(uid, sizeof(uid), "taken-%d", i);
        insert_simple(f, uid, "bob", 2, 0);
    }
    worker ws[N_THREADS];
    run_workers(f, mixed_worker, ws);
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(ws[i].failures, 0);
    kh_locate_query q;
    char **uids = NULL;
    size_t n = 0;
    kh_locate_query_init(&q);
    q.owner = "alice";
    assert_int_equal(kh_store_object_locate(f->s, &q, &uids, &n), KH_OK);
    assert_int_equal(n, N_THREADS * ((PER_THREAD + 1) / 2));
    for (size_t i = 0; i < n; i++)
        free(uids[i]);
    free(uids);
    reopen(f); /* and it was all committed */
    q.owner = "alice";
    assert_int_equal(kh_store_object_locate(f->s, &q, &uids, &n), KH_OK);
    assert_int_equal(n, N_THREADS * ((PER_THREAD + 1) / 2));
    for (size_t i = 0; i < n; i++)
        free(uids[i]);
    free(uids);
}

/* ---- several stores on one database (several nodes) ------------------- */

typedef struct migrator {
    const char *url;
    kh_err err;
    int applied;
} migrator;

static void *migrate_worker(void *arg)
{
    migrator *m = arg;
    kh_store *s = NULL;
    m->err = kh_store_open(m->url, &s);
    if (m->err == KH_OK)
        m->err = kh_store_migrate(s, &m->applied);
    kh_store_close(&s);
    return NULL;
}

/* Nodes started together on an empty database: each migration runs once. */
static void test_concurrent_migrate(void **state)
{
    fixture *f = *state;
    char url[1024];
    enum { N = 4 };
    pthread_t t[N];
    migrator m[N];
    fresh_db(f, url, sizeof(url));
    for (int i = 0; i < N; i++) {
        m[i] = (migrator){url, KH_ERR_INTERNAL, 0};
        assert_int_equal(pthread_create(&t[i], NULL, migrate_worker, &m[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(m[i].err, KH_OK);
        total += m[i].applied;
    }
    assert_int_equal(total, SCHEMA_VERSION); /* each migration ran exactly once */
    kh_store *s = NULL;
    int version = -1;
    assert_int_equal(kh_store_open(url, &s), KH_OK);
    assert_int_equal(kh_store_schema_version(s, &version), KH_OK);
    assert_int_equal(version, SCHEMA_VERSION);
    kh_store_close(&s);
}

static void test_two_nodes(void **state)
{
    fixture *f = *state;
    kh_store *b = NULL;
    kh_obj_row *g = NULL;
    int64_t realm_b = 0;
    assert_int_equal(kh_store_open(f->url, &b), KH_OK);
    assert_int_equal(kh_store_migrate(b, NULL), KH_OK);
    assert_int_equal(kh_store_realm_ensure(b, "default", &realm_b), KH_OK);
    assert_int_equal(realm_b, f->realm);

    insert_simple(f, "shared", "alice", 2, 10); /* on node A */
    assert_int_equal(kh_store_object_get(b, "shared", &g), KH_OK);
    kh_obj_row upd = *g;
    upd.state = 2;
    assert_int_equal(kh_store_object_update(b, &upd), KH_OK); /* node B wins */
    assert_int_equal(kh_store_object_update(f->s, &upd), KH_ERR_CONFLICT);
    kh_obj_row r = make_row(f, "shared", "bob", 2, 11);
    assert_int_equal(kh_store_object_insert(b, &r), KH_ERR_EXISTS);
    kh_obj_row_free(&g);
    assert_int_equal(kh_store_object_get(f->s, "shared", &g), KH_OK);
    assert_int_equal(g->revision, 2);
    assert_int_equal(g->state, 2);
    kh_obj_row_free(&g);

    assert_int_equal(kh_store_realm_key_insert(f->s, f->realm, 1, (const uint8_t *)"a", 1), KH_OK);
    assert_int_equal(kh_store_realm_key_insert(b, f->realm, 1, (const uint8_t *)"b", 1),
                     KH_ERR_EXISTS);
    kh_locate_query q;
    kh_locate_query_init(&q);
    q.state = 2;
    assert_int_equal(count_locate(f->s, &q), 1);
    kh_store_close(&b);
}

typedef struct racer {
    fixture *f;
    int id;
    kh_err err;
    int64_t realm;
} racer;

static void *realm_key_worker(void *arg)
{
    racer *r = arg;
    uint8_t wrapped[2] = {'k', (uint8_t)r->id};
    r->err = kh_store_realm_ensure(r->f->s, "raced", &r->realm);
    if (r->err == KH_OK)
        r->err = kh_store_realm_key_insert(r->f->s, r->realm, 1, wrapped, sizeof(wrapped));
    return NULL;
}

/* Realm creation and realm key rotation race between nodes: one realm,
 * and exactly one key per version, the others told KH_ERR_EXISTS. */
static void test_concurrent_realm_keys(void **state)
{
    fixture *f = *state;
    pthread_t t[N_THREADS];
    racer rs[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        rs[i] = (racer){f, i, KH_ERR_INTERNAL, 0};
        assert_int_equal(pthread_create(&t[i], NULL, realm_key_worker, &rs[i]), 0);
    }
    int won = -1, winners = 0;
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_true(rs[i].err == KH_OK || rs[i].err == KH_ERR_EXISTS);
        assert_int_equal(rs[i].realm, rs[0].realm);
        if (rs[i].err == KH_OK) {
            winners++;
            won = i;
        }
    }
    assert_int_equal(winners, 1);
    int32_t v = 0;
    uint8_t *w = NULL;
    size_t wlen = 0;
    assert_int_equal(kh_store_realm_key_latest(f->s, rs[0].realm, &v, &w, &wlen), KH_OK);
    assert_int_equal(v, 1);
    assert_int_equal(wlen, 2);
    assert_int_equal(w[1], won);
    free(w);
}

/* ---- PostgreSQL only ------------------------------------------------------ */

/* Kill this test's server connections (as a server restart or a firewall
 * cutting idle connections would) and wait until they are gone. */
static void kill_connections(fixture *f)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE application_name = '%s'",
             f->schemas[0]);
    assert_int_equal(admin_exec(f, sql), 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", f->schemas[0]);
    for (int i = 0; i < 500; i++) {
        PGresult *res = PQexec(f->admin, sql);
        int left = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;
        PQclear(res);
        if (left == 0)
            return;
        usleep(10000);
    }
    fail_msg("server connections did not go away");
}

/* A pooled connection that died is replaced: reads retry on a new one, and
 * so do writes whose BEGIN found the connection dead. */
static void test_pg_reconnect(void **state)
{
    fixture *f = *state;
    kh_obj_row *g = NULL;
    insert_simple(f, "before", "alice", 2, 1);
    kill_connections(f);
    assert_int_equal(kh_store_object_get(f->s, "before", &g), KH_OK);
    kh_obj_row_free(&g);
    kill_connections(f);
    insert_simple(f, "after", "alice", 2, 2);
    kill_connections(f);
    kh_locate_query q;
    kh_locate_query_init(&q);
    assert_int_equal(count_locate(f->s, &q), 2);
    kill_connections(f);
    assert_int_equal(kh_store_realm_key_insert(f->s, f->realm, 1, (const uint8_t *)"w", 1), KH_OK);
    kill_connections(f);
    int64_t id = 0;
    assert_int_equal(kh_store_realm_ensure(f->s, "default", &id), KH_OK);
    assert_int_equal(id, f->realm);
    kill_connections(f);
    int version = 0;
    assert_int_equal(kh_store_schema_version(f->s, &version), KH_OK);
    assert_int_equal(version, SCHEMA_VERSION);
}

/* Text the database encoding cannot hold is the caller's fault, not a
 * storage failure (SQLite stores any bytes; PostgreSQL checks UTF-8). */
static void test_pg_invalid_utf8(void **state)
{
    fixture *f = *state;
    char *names[] = {"bad\xff\xfename"};
    kh_obj_row r = make_row(f, "utf", "alice", 2, 1);
    r.names = names;
    r.n_names = 1;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_ERR_INVALID_FIELD);
    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_object_get(f->s, "utf", &g), KH_ERR_NOT_FOUND);
    kh_locate_query q;
    kh_locate_query_init(&q);
    q.name = names[0];
    char **uids = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_object_locate(f->s, &q, &uids, &n), KH_ERR_INVALID_FIELD);
}

/* The store contract: every backend passes all of these. */
#define CONTRACT_TESTS(setup)                                                                      \
    cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_concurrent_batches_isolate_failures, setup,           \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_concurrent_migrate, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(test_two_nodes, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_concurrent_realm_keys, setup, teardown)

int main(void)
{
    store_harness_init();
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup_sqlite),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(setup_pg),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_invalid_utf8, setup_pg, teardown),
    };
    return store_harness_run(sqlite_tests, sizeof(sqlite_tests) / sizeof(sqlite_tests[0]), pg_tests,
                             sizeof(pg_tests) / sizeof(pg_tests[0]));
}
