/*
 * test_store.c - the store contract (store.h) on every backend: schema and
 * migrations, realms, objects, Locate and grants, plus the
 * SQLite-only checks (file modes, URL forms). Concurrency and several
 * nodes are in test_store_concurrency.c, the audit chain in
 * test_store_audit.c; the fixture is store_harness.h.
 */
#include "store/sqlite_internal.h"
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

/* ---- schema ------------------------------------------------------------ */

static void test_migrate_idempotent(void **state)
{
    fixture *f = *state;
    int applied = -1, version = -1;
    assert_int_equal(kh_store_migrate(f->s, &applied), KH_OK);
    assert_int_equal(applied, 0);
    assert_int_equal(kh_store_migrate(f->s, NULL), KH_OK);
    assert_int_equal(kh_store_schema_version(f->s, &version), KH_OK);
    assert_int_equal(version, SCHEMA_VERSION);
    reopen(f);
    assert_int_equal(kh_store_migrate(f->s, &applied), KH_OK);
    assert_int_equal(applied, 0);
}

static void test_fresh_db_version_zero(void **state)
{
    fixture *f = *state;
    char url[1024];
    kh_store *s = NULL;
    int version = -1;
    fresh_db(f, url, sizeof(url));
    assert_int_equal(kh_store_open(url, &s), KH_OK);
    assert_int_equal(kh_store_schema_version(s, &version), KH_OK);
    assert_int_equal(version, 0);
    kh_store_close(&s);
}

/* Like SQLite's own refusal: a binary must not write to a schema it does
 * not know (a newer keyhold has been there). */
static void test_newer_schema_refused(void **state)
{
    fixture *f = *state;
    int applied = -1, version = -1;
    raw_exec(f, "INSERT INTO schema_migrations(version, applied_at) VALUES (99, 0)");
    assert_int_equal(kh_store_migrate(f->s, &applied), KH_ERR_CONFIG);
    assert_int_equal(applied, -1); /* untouched on failure */
    assert_int_equal(kh_store_schema_version(f->s, &version), KH_OK);
    assert_int_equal(version, 99);
    reopen(f);
    assert_int_equal(kh_store_migrate(f->s, NULL), KH_ERR_CONFIG);
}

static void test_sqlite_file_private(void **state)
{
    fixture *f = *state;
    char path[160];
    kh_store *s = NULL;
    struct stat st;
    snprintf(path, sizeof(path), "%s/fresh.db", f->dir);
    assert_int_equal(kh_store_open(path, &s), KH_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0); /* created private */
    kh_store_close(&s);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
}

/* PRAGMA synchronous of a pooled connection: 2 = FULL, 1 = NORMAL. */
static int pooled_sync(fixture *f)
{
    sq_conn *c = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sq_acquire(f->s, &c), KH_OK);
    assert_int_equal(sqlite3_prepare_v2(c->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sq_release(f->s, c);
    return v;
}

/* --durability: FULL by default; NORMAL for process durability on the
 * pooled connection and on connections opened later; back to FULL. */
static void test_sqlite_durability(void **state)
{
    fixture *f = *state;
    assert_int_equal(pooled_sync(f), 2);
    assert_int_equal(kh_store_set_durability(f->s, KH_DURABLE_PROCESS), KH_OK);
    assert_int_equal(pooled_sync(f), 1);
    insert_simple(f, "after-normal", "alice", 2, 100);
    reopen(f);
    assert_int_equal(pooled_sync(f), 2); /* a new store starts at power */
    assert_int_equal(kh_store_set_durability(f->s, KH_DURABLE_PROCESS), KH_OK);
    assert_int_equal(pooled_sync(f), 1);
    kh_obj_row *row = NULL;
    assert_int_equal(kh_store_object_get(f->s, "after-normal", &row), KH_OK);
    kh_obj_row_free(&row);
    assert_int_equal(kh_store_set_durability(f->s, KH_DURABLE_POWER), KH_OK);
    assert_int_equal(pooled_sync(f), 2);
    assert_int_equal(kh_store_set_durability(f->s, (kh_durability)7), KH_ERR_INVALID_ARG);
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
    /* Both PostgreSQL schemes reach libpq; these fail without a server:
     * no socket there, or a URL libpq does not accept. */
    assert_int_equal(kh_store_open("postgresql://u@/db?host=/nonexistent-kh-dir", &s),
                     KH_ERR_STORE);
    assert_int_equal(kh_store_open("postgres://u@/db?host=/nonexistent-kh-dir", &s), KH_ERR_STORE);
    assert_int_equal(kh_store_open("postgresql://u@h/db?no_such_option=1", &s), KH_ERR_CONFIG);
    assert_int_equal(kh_store_open("mysql://u@h/db", &s), KH_ERR_CONFIG);
    assert_int_equal(kh_store_open(":memory:", &s), KH_ERR_CONFIG);
    assert_int_equal(kh_store_open("sqlite://", &s), KH_ERR_CONFIG);
    assert_int_equal(kh_store_open("", &s), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_store_open("/nonexistent-dir/x/k.db", &s), KH_ERR_IO);
    assert_null(s);
}

/* A PostgreSQL URL may carry a password: no log line may repeat it, even
 * when the URL does not parse (libpq's own message would quote it). */
static void test_pg_url_password_not_logged(void **state)
{
    fixture *f = *state;
    char logpath[160];
    kh_store *s = NULL;
    snprintf(logpath, sizeof(logpath), "%s/log.txt", f->dir);
    int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    kh_log_level level = kh_log_get_level();
    kh_log_set_level(KH_LOG_DEBUG);
    kh_err e1 = kh_store_open("postgresql://u:Sekr1tPw@/db?host=/nonexistent-kh-dir", &s);
    kh_err e2 = kh_store_open("postgresql://u:Sekr1tPw%zz@h/db", &s);
    kh_err e3 = kh_store_open("postgresql://u:Sekr1tPw@h/db?bad_opt=Sekr1tPw", &s);
    kh_log_set_level(level);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    assert_int_equal(e1, KH_ERR_STORE);
    assert_int_equal(e2, KH_ERR_CONFIG);
    assert_int_equal(e3, KH_ERR_CONFIG);
    char buf[8192] = {0};
    FILE *fp = fopen(logpath, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    assert_true(n > 0);                   /* the failures were logged... */
    assert_null(strstr(buf, "Sekr1tPw")); /* ...without the password */
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
    /* An empty blob is not a missing one. */
    kh_obj_row r = make_row(f, "empty", "bob", 7, 6);
    r.attrs = (uint8_t *)"";
    r.attrs_len = 0;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
    assert_int_equal(kh_store_object_get(f->s, "empty", &g), KH_OK);
    assert_non_null(g->attrs);
    assert_int_equal(g->attrs_len, 0);
    assert_null(g->material);
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
    for (size_t i = 0; i < n && i < n_want; i++) { /* bounds for the analyzer */
        assert_string_equal(uids[i], want[i]);
        free(uids[i]);
    }
    free(uids);
}

/* Several rows in one transaction: all or none (CreateKeyPair's two halves). */
static void expect_absent(fixture *f, const char *uid)
{
    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_object_get(f->s, uid, &g), KH_ERR_NOT_FOUND);
    assert_null(g);
}

static void test_insert_many_all_or_none(void **state)
{
    fixture *f = *state;
    char *names[] = {"pair"};
    kh_obj_row pub = make_row(f, "pub-1", "alice", 3, 10);
    kh_obj_row priv = make_row(f, "priv-1", "alice", 4, 10);
    uint8_t mat[] = {9, 8, 7};
    priv.material = mat;
    priv.material_len = sizeof(mat);
    priv.names = names;
    priv.n_names = 1;
    const kh_obj_row *both[] = {&pub, &priv};
    assert_int_equal(kh_store_object_insert_many(f->s, both, 2), KH_OK);
    kh_obj_row *g = NULL;
    assert_int_equal(kh_store_object_get(f->s, "priv-1", &g), KH_OK);
    assert_int_equal(g->object_type, 4);
    assert_int_equal(g->material_len, sizeof(mat));
    assert_int_equal(g->revision, 1);
    kh_obj_row_free(&g);
    assert_int_equal(kh_store_object_get(f->s, "pub-1", &g), KH_OK);
    kh_obj_row_free(&g);
    kh_locate_query q;
    kh_locate_query_init(&q);
    q.name = "pair";
    expect_locate(f, &q, (const char *const[]){"priv-1"}, 1);

    /* The second row's uid is taken: the first is not left behind. */
    kh_obj_row fresh = make_row(f, "pub-2", "alice", 3, 20);
    kh_obj_row taken = make_row(f, "priv-1", "mallory", 4, 20);
    const kh_obj_row *clash[] = {&fresh, &taken};
    assert_int_equal(kh_store_object_insert_many(f->s, clash, 2), KH_ERR_EXISTS);
    expect_absent(f, "pub-2");
    /* Two rows of one batch with one uid. */
    kh_obj_row twin = make_row(f, "twin", "alice", 3, 21);
    const kh_obj_row *twins[] = {&twin, &twin};
    assert_int_equal(kh_store_object_insert_many(f->s, twins, 2), KH_ERR_EXISTS);
    expect_absent(f, "twin");
    /* A failure of another kind (no such realm) in the last row. */
    kh_obj_row orphan = make_row(f, "orphan", "alice", 4, 22);
    orphan.realm_id = 4242;
    const kh_obj_row *lost[] = {&fresh, &twin, &orphan};
    assert_int_equal(kh_store_object_insert_many(f->s, lost, 3), KH_ERR_STORE);
    expect_absent(f, "pub-2");
    expect_absent(f, "twin");
    /* Refused before the backend: nothing, a NULL row, a row without uid. */
    assert_int_equal(kh_store_object_insert_many(f->s, both, 0), KH_ERR_INVALID_ARG);
    const kh_obj_row *with_null[] = {&fresh, NULL};
    assert_int_equal(kh_store_object_insert_many(f->s, with_null, 2), KH_ERR_INVALID_ARG);
    expect_absent(f, "pub-2");
    /* The store is fine afterwards: the failed transactions left nothing open. */
    const kh_obj_row *ok[] = {&fresh, &twin};
    assert_int_equal(kh_store_object_insert_many(f->s, ok, 2), KH_OK);
    insert_simple(f, "after", "alice", 2, 30);
    reopen(f);
    assert_int_equal(kh_store_object_get(f->s, "twin", &g), KH_OK);
    kh_obj_row_free(&g);
    assert_int_equal(kh_store_object_get(f->s, "pub-2", &g), KH_OK);
    kh_obj_row_free(&g);
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

/* ---- grants ---------------------------------------------------------------- */

static uint32_t perms_of(fixture *f, const char *owner, const char *uid, const char *who)
{
    uint32_t p = 0xdead;
    assert_int_equal(kh_store_grant_perms(f->s, owner, uid, who, &p), KH_OK);
    return p;
}

static void grant(fixture *f, const char *owner, const char *uid, const char *to, uint32_t p)
{
    kh_grant_row g = {(char *)owner, (char *)uid, (char *)to, p};
    assert_int_equal(kh_store_grant_add(f->s, &g), KH_OK);
}

static void test_grants(void **state)
{
    fixture *f = *state;
    grant(f, "alice", "a", "bob", 0x2);
    grant(f, "alice", "a", "bob", 0x8); /* merges */
    grant(f, "alice", "*", "carol", 0x400);
    grant(f, "alice", "c", "*", 0x2000);
    assert_int_equal(perms_of(f, "alice", "a", "bob"), 0xa);
    assert_int_equal(perms_of(f, "alice", "c", "bob"), 0x2000);
    assert_int_equal(perms_of(f, "alice", "a", "carol"), 0x400);
    assert_int_equal(perms_of(f, "alice", "c", "carol"), 0x2400);
    assert_int_equal(perms_of(f, "alice", "a", "dave"), 0);
    assert_int_equal(perms_of(f, "bob", "a", "bob"), 0); /* bob's grants are not alice's */
    kh_grant_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_grant_list(f->s, "alice", NULL, &rows, &n), KH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].object_uid, "*");
    assert_string_equal(rows[1].object_uid, "a");
    assert_int_equal(rows[1].permissions, 0xa);
    kh_grant_rows_free(rows, n);
    assert_int_equal(kh_store_grant_list(f->s, "alice", "a", &rows, &n), KH_OK);
    assert_int_equal(n, 1);
    kh_grant_rows_free(rows, n);
    kh_grant_row g = {"alice", "a", "bob", 0x2};
    assert_int_equal(kh_store_grant_remove(f->s, &g), KH_OK);
    assert_int_equal(perms_of(f, "alice", "a", "bob"), 0x8);
    g.permissions = 0x8;
    assert_int_equal(kh_store_grant_remove(f->s, &g), KH_OK); /* none left: gone */
    assert_int_equal(kh_store_grant_list(f->s, "alice", "a", &rows, &n), KH_OK);
    assert_int_equal(n, 0);
    kh_grant_rows_free(rows, n);
    assert_int_equal(kh_store_grant_remove(f->s, &g), KH_ERR_NOT_FOUND);
    g.permissions = 0;
    assert_int_equal(kh_store_grant_add(f->s, &g), KH_ERR_INVALID_ARG);
}

static void test_locate_visible(void **state)
{
    fixture *f = *state;
    kh_locate_query q;
    locate_fixture(f); /* alice: a, c, d; bob: b */
    kh_locate_query_init(&q);
    q.visible_to = "bob";
    q.permission = 0x400;
    expect_locate(f, &q, (const char *const[]){"b"}, 1);
    grant(f, "alice", "a", "bob", 0x2); /* Get only: not for Locate */
    expect_locate(f, &q, (const char *const[]){"b"}, 1);
    grant(f, "alice", "a", "bob", 0x400);
    expect_locate(f, &q, (const char *const[]){"b", "a"}, 2);
    q.name = "shared";
    expect_locate(f, &q, (const char *const[]){"a"}, 1);
    q.name = NULL;
    grant(f, "alice", "*", "*", 0x400);
    expect_locate(f, &q, (const char *const[]){"c", "b", "a", "d"}, 4);
    q.visible_to = "carol";
    expect_locate(f, &q, (const char *const[]){"c", "a", "d"}, 3);
    q.permission = 0;
    char **uids = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_object_locate(f->s, &q, &uids, &n), KH_ERR_INVALID_ARG);
}

/* The store contract: every backend passes all of these. */
#define CONTRACT_TESTS(setup)                                                                      \
    cmocka_unit_test_setup_teardown(test_migrate_idempotent, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_fresh_db_version_zero, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),               \
        cmocka_unit_test_setup_teardown(test_realms_and_keys, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_insert_get_round_trip, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_null_blobs, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_duplicate_and_missing, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_insert_many_all_or_none, setup, teardown),            \
        cmocka_unit_test_setup_teardown(test_update_optimistic_lock, setup, teardown),             \
        cmocka_unit_test_setup_teardown(test_locate_filters, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_locate_paging, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_grants, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_locate_visible, setup, teardown)

int main(void)
{
    store_harness_init();
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup_sqlite),
        cmocka_unit_test_setup_teardown(test_sqlite_file_private, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_open_urls, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_durability, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_pg_url_password_not_logged, setup_sqlite, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(setup_pg),
    };
    return store_harness_run(sqlite_tests, sizeof(sqlite_tests) / sizeof(sqlite_tests[0]), pg_tests,
                             sizeof(pg_tests) / sizeof(pg_tests[0]));
}
