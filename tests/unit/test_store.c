/*
 * test_store.c - unit tests for src/store/ on real SQLite files.
 *
 * Each test gets a fresh directory from mkdtemp and removes it afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/mem.h"
#include "store/store.h"

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    char path[128];
    kh_store *s;
    int64_t realm;
} fixture;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture *f = kh_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kh_store_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/keyhold.db", f->dir);
    char url[160];
    snprintf(url, sizeof(url), "sqlite://%s", f->path); /* sqlite:///tmp/... */
    int applied = -1;
    if (kh_store_open(url, &f->s) != KH_OK || kh_store_migrate(f->s, &applied) != KH_OK ||
        applied != 1 || kh_store_realm_ensure(f->s, "default", &f->realm) != KH_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kh_store_close(&f->s);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void reopen(fixture *f)
{
    kh_store_close(&f->s);
    assert_null(f->s);
    assert_int_equal(kh_store_open(f->path, &f->s), KH_OK); /* bare path */
}

static kh_obj_row make_row(const fixture *f, const char *uid, const char *owner, int32_t type,
                           int64_t created_at)
{
    kh_obj_row r = {0};
    r.uid = (char *)uid;
    r.owner = (char *)owner;
    r.realm_id = f->realm;
    r.object_type = type;
    r.state = 1;
    r.algorithm = 3;
    r.length = 256;
    r.created_at = created_at;
    r.updated_at = created_at;
    return r;
}

static void insert_simple(fixture *f, const char *uid, const char *owner, int32_t type,
                          int64_t created_at)
{
    kh_obj_row r = make_row(f, uid, owner, type, created_at);
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
}

/* ---- schema ------------------------------------------------------------ */

static void test_migrate_idempotent(void **state)
{
    fixture *f = *state;
    int applied = -1, version = -1;
    assert_int_equal(kh_store_migrate(f->s, &applied), KH_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(kh_store_migrate(f->s, NULL), KH_OK);
    assert_int_equal(kh_store_schema_version(f->s, &version), KH_OK);
    assert_int_equal(version, 1);
    reopen(f);
    assert_int_equal(kh_store_migrate(f->s, &applied), KH_OK);
    assert_int_equal(applied, 0);
}

static void test_fresh_db_version_zero(void **state)
{
    fixture *f = *state;
    char path[160];
    kh_store *s = NULL;
    int version = -1;
    struct stat st;
    snprintf(path, sizeof(path), "%s/fresh.db", f->dir);
    assert_int_equal(kh_store_open(path, &s), KH_OK);
    assert_int_equal(kh_store_schema_version(s, &version), KH_OK);
    assert_int_equal(version, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0); /* created private */
    kh_store_close(&s);
}

static void test_open_urls(void **state)
{
    fixture *f = *state;
    kh_store *s = NULL;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(f->dir), 0);
    assert_int_equal(kh_store_open("sqlite://rel.db", &s), KH_OK);
    kh_store_close(&s);
    assert_int_equal(access("rel.db", F_OK), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(kh_store_open("postgresql://u@h/db", &s), KH_ERR_UNSUPPORTED);
    assert_int_equal(kh_store_open("mysql://u@h/db", &s), KH_ERR_CONFIG);
    assert_int_equal(kh_store_open(":memory:", &s), KH_ERR_CONFIG);
    assert_int_equal(kh_store_open("sqlite://", &s), KH_ERR_CONFIG);
    assert_int_equal(kh_store_open("", &s), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_store_open("/nonexistent-dir/x/k.db", &s), KH_ERR_IO);
    assert_null(s);
}

/* ---- realms -------------------------------------------------------------- */

static void test_realms_and_keys(void **state)
{
    fixture *f = *state;
    int64_t again = 0, other = 0;
    int32_t version = 0;
    uint8_t *w = NULL;
    size_t wlen = 0;
    assert_int_equal(kh_store_realm_ensure(f->s, "default", &again), KH_OK);
    assert_int_equal(again, f->realm);
    assert_int_equal(kh_store_realm_ensure(f->s, "other", &other), KH_OK);
    assert_int_not_equal(other, f->realm);
    assert_int_equal(kh_store_realm_key_latest(f->s, f->realm, &version, &w, &wlen),
                     KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_realm_key_insert(f->s, f->realm, 1, (const uint8_t *)"k1", 2), KH_OK);
    assert_int_equal(kh_store_realm_key_insert(f->s, f->realm, 2, (const uint8_t *)"k22", 3),
                     KH_OK);
    assert_int_equal(kh_store_realm_key_insert(f->s, f->realm, 2, (const uint8_t *)"zz", 2),
                     KH_ERR_EXISTS);
    assert_int_equal(kh_store_realm_key_latest(f->s, f->realm, &version, &w, &wlen), KH_OK);
    assert_int_equal(version, 2);
    assert_int_equal(wlen, 3);
    assert_memory_equal(w, "k22", 3);
    free(w);
    assert_int_equal(kh_store_realm_key_get(f->s, f->realm, 1, &w, &wlen), KH_OK);
    assert_int_equal(wlen, 2);
    assert_memory_equal(w, "k1", 2);
    free(w);
    assert_int_equal(kh_store_realm_key_get(f->s, f->realm, 3, &w, &wlen), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_realm_key_get(f->s, other, 1, &w, &wlen), KH_ERR_NOT_FOUND);
    /* A key for a realm that does not exist violates a foreign key. */
    assert_int_equal(kh_store_realm_key_insert(f->s, 9999, 1, (const uint8_t *)"x", 1),
                     KH_ERR_STORE);
}

/* ---- objects ------------------------------------------------------------- */

static void test_insert_get_round_trip(void **state)
{
    fixture *f = *state;
    char *names[] = {"beta", "alpha", "alpha"}; /* duplicates collapse */
    uint8_t attrs[] = {0x42, 0x00, 0x01, 0x00};
    uint8_t material[48];
    for (size_t i = 0; i < sizeof(material); i++)
        material[i] = (uint8_t)(i * 7);
    kh_obj_row r = make_row(f, "uid-1", "alice", 2, 1700000000);
    r.state = 2;
    r.algorithm = 3;
    r.length = 128;
    r.updated_at = 1700000005;
    r.revision = 77; /* ignored: stored as 1 */
    r.attrs = attrs;
    r.attrs_len = sizeof(attrs);
    r.material = material;
    r.material_len = sizeof(material);
    r.material_key_version = 4;
    r.names = names;
    r.n_names = 3;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);

    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_object_get(f->s, "uid-1", &g), KH_OK);
    assert_string_equal(g->uid, "uid-1");
    assert_string_equal(g->owner, "alice");
    assert_int_equal(g->realm_id, f->realm);
    assert_int_equal(g->object_type, 2);
    assert_int_equal(g->state, 2);
    assert_int_equal(g->algorithm, 3);
    assert_int_equal(g->length, 128);
    assert_int_equal(g->created_at, 1700000000);
    assert_int_equal(g->updated_at, 1700000005);
    assert_int_equal(g->revision, 1);
    assert_int_equal(g->attrs_len, sizeof(attrs));
    assert_memory_equal(g->attrs, attrs, sizeof(attrs));
    assert_int_equal(g->material_len, sizeof(material));
    assert_memory_equal(g->material, material, sizeof(material));
    assert_int_equal(g->material_key_version, 4);
    assert_int_equal(g->n_names, 2);
    assert_string_equal(g->names[0], "alpha");
    assert_string_equal(g->names[1], "beta");
    kh_obj_row_free(&g);
    assert_null(g);
    kh_obj_row_free(&g);
}

static void test_null_blobs(void **state)
{
    fixture *f = *state;
    insert_simple(f, "bare", "bob", 7, 5);
    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_object_get(f->s, "bare", &g), KH_OK);
    assert_null(g->attrs);
    assert_null(g->material);
    assert_int_equal(g->material_len, 0);
    assert_int_equal(g->n_names, 0);
    kh_obj_row_free(&g);
}

static void test_duplicate_and_missing(void **state)
{
    fixture *f = *state;
    kh_obj_row *g = NULL;
    insert_simple(f, "dup", "alice", 2, 10);
    kh_obj_row r = make_row(f, "dup", "mallory", 2, 11);
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_ERR_EXISTS);
    assert_int_equal(kh_store_object_get(f->s, "dup", &g), KH_OK);
    assert_string_equal(g->owner, "alice"); /* the first one stands */
    kh_obj_row_free(&g);
    assert_int_equal(kh_store_object_get(f->s, "nope", &g), KH_ERR_NOT_FOUND);
    assert_null(g);
    /* An object in a realm that does not exist is refused whole. */
    r = make_row(f, "orphan", "alice", 2, 12);
    r.realm_id = 4242;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_ERR_STORE);
    assert_int_equal(kh_store_object_get(f->s, "orphan", &g), KH_ERR_NOT_FOUND);
}

static void test_update_optimistic_lock(void **state)
{
    fixture *f = *state;
    char *names1[] = {"old"};
    char *names2[] = {"new", "newer"};
    uint8_t mat[] = {1, 2, 3};
    kh_obj_row r = make_row(f, "u", "alice", 2, 100);
    r.names = names1;
    r.n_names = 1;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);

    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_object_get(f->s, "u", &g), KH_OK);
    kh_obj_row upd = *g;
    upd.state = 3;
    upd.updated_at = 200;
    upd.material = mat;
    upd.material_len = sizeof(mat);
    upd.material_key_version = 2;
    upd.names = names2;
    upd.n_names = 2;
    upd.object_type = 99; /* immutable: ignored */
    upd.created_at = 1;   /* immutable: ignored */
    assert_int_equal(kh_store_object_update(f->s, &upd), KH_OK);
    /* Same (now stale) revision again: someone else's update won. */
    upd.state = 4;
    assert_int_equal(kh_store_object_update(f->s, &upd), KH_ERR_CONFLICT);
    kh_obj_row_free(&g);

    assert_int_equal(kh_store_object_get(f->s, "u", &g), KH_OK);
    assert_int_equal(g->revision, 2);
    assert_int_equal(g->state, 3);
    assert_int_equal(g->updated_at, 200);
    assert_int_equal(g->created_at, 100);
    assert_int_equal(g->object_type, 2);
    assert_int_equal(g->material_len, 3);
    assert_memory_equal(g->material, mat, 3);
    assert_int_equal(g->material_key_version, 2);
    assert_int_equal(g->n_names, 2);
    assert_string_equal(g->names[0], "new");
    assert_string_equal(g->names[1], "newer");
    kh_obj_row_free(&g);

    kh_locate_query q;
    char **uids = NULL;
    size_t n = 99;
    kh_locate_query_init(&q);
    q.name = "old";
    assert_int_equal(kh_store_object_locate(f->s, &q, &uids, &n), KH_OK);
    assert_int_equal(n, 0);
    free(uids);

    upd.uid = "ghost";
    upd.owner = "alice";
    assert_int_equal(kh_store_object_update(f->s, &upd), KH_ERR_NOT_FOUND);
}

/* ---- locate -------------------------------------------------------------- */

static void expect_locate(fixture *f, const kh_locate_query *q, const char *const *want,
                          size_t n_want)
{
    char **uids = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_object_locate(f->s, q, &uids, &n), KH_OK);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(uids[i], want[i]);
        free(uids[i]);
    }
    free(uids);
}

static void locate_fixture(fixture *f)
{
    char *n_a[] = {"shared", "only-a"};
    char *n_c[] = {"shared"};
    kh_obj_row r = make_row(f, "a", "alice", 2, 100);
    r.names = n_a;
    r.n_names = 2;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
    r = make_row(f, "b", "bob", 3, 200);
    r.state = 2;
    r.algorithm = 4;
    r.length = 2048;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
    r = make_row(f, "c", "alice", 2, 200); /* same second as b: insertion order decides */
    r.names = n_c;
    r.n_names = 1;
    r.length = 128;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
    insert_simple(f, "d", "alice", 7, 50);
}

static void test_locate_filters(void **state)
{
    fixture *f = *state;
    kh_locate_query q;
    locate_fixture(f);

    kh_locate_query_init(&q);
    expect_locate(f, &q, (const char *[]){"c", "b", "a", "d"}, 4);

    kh_locate_query_init(&q);
    q.owner = "alice";
    expect_locate(f, &q, (const char *[]){"c", "a", "d"}, 3);
    q.owner = "nobody";
    expect_locate(f, &q, NULL, 0);

    kh_locate_query_init(&q);
    q.name = "shared";
    expect_locate(f, &q, (const char *[]){"c", "a"}, 2);
    q.name = "only-a";
    expect_locate(f, &q, (const char *[]){"a"}, 1);
    q.owner = "bob";
    expect_locate(f, &q, NULL, 0);

    kh_locate_query_init(&q);
    q.object_type = 2;
    expect_locate(f, &q, (const char *[]){"c", "a"}, 2);
    kh_locate_query_init(&q);
    q.state = 2;
    expect_locate(f, &q, (const char *[]){"b"}, 1);
    kh_locate_query_init(&q);
    q.algorithm = 4;
    expect_locate(f, &q, (const char *[]){"b"}, 1);
    kh_locate_query_init(&q);
    q.length = 256;
    expect_locate(f, &q, (const char *[]){"a", "d"}, 2);
    q.object_type = 7;
    q.owner = "alice";
    expect_locate(f, &q, (const char *[]){"d"}, 1);
}

static void test_locate_paging(void **state)
{
    fixture *f = *state;
    kh_locate_query q;
    locate_fixture(f);
    kh_locate_query_init(&q);
    q.limit = 2;
    expect_locate(f, &q, (const char *[]){"c", "b"}, 2);
    q.offset = 2;
    expect_locate(f, &q, (const char *[]){"a", "d"}, 2);
    q.offset = 3;
    expect_locate(f, &q, (const char *[]){"d"}, 1);
    q.offset = 10;
    expect_locate(f, &q, NULL, 0);
    q.offset = 1;
    q.limit = -1;
    expect_locate(f, &q, (const char *[]){"b", "a", "d"}, 3);
    q.limit = 0;
    expect_locate(f, &q, NULL, 0);
    char **uids = NULL;
    size_t n = 0;
    q.offset = -1;
    assert_int_equal(kh_store_object_locate(f->s, &q, &uids, &n), KH_ERR_INVALID_ARG);
}

static void test_survives_reopen(void **state)
{
    fixture *f = *state;
    char *names[] = {"persisted"};
    kh_obj_row r = make_row(f, "keep", "alice", 2, 300);
    r.names = names;
    r.n_names = 1;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
    assert_int_equal(kh_store_realm_key_insert(f->s, f->realm, 1, (const uint8_t *)"w", 1), KH_OK);
    reopen(f);
    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_object_get(f->s, "keep", &g), KH_OK);
    assert_int_equal(g->n_names, 1);
    assert_string_equal(g->names[0], "persisted");
    kh_obj_row_free(&g);
    int32_t v = 0;
    uint8_t *w = NULL;
    size_t wlen = 0;
    assert_int_equal(kh_store_realm_key_latest(f->s, f->realm, &v, &w, &wlen), KH_OK);
    assert_int_equal(v, 1);
    free(w);
}

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

int main(void)
{
    /* Failures below are expected and logged; KH_TEST_LOG=1 shows them. */
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_db_version_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_realms_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_insert_get_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_optimistic_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_batches_isolate_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
