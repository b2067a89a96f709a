/*
 * test_store.c - unit tests for src/store/, one suite for every backend.
 *
 * Every test of the store contract (store.h) runs once on SQLite and once
 * on PostgreSQL, from the same code: a backend only decides how a fixture
 * gets an empty database. SQLite always runs, on a fresh file under a
 * mkdtemp directory per test. PostgreSQL runs when KH_TEST_PG_URL names a
 * database (scripts/pg-test-server start DIR prints one); each test gets a
 * fresh schema, selected through the URL's options=-csearch_path=..., and
 * drops it afterwards, so tests never see each other's rows. A few tests
 * are about one backend only (SQLite file modes and URL forms, PostgreSQL
 * reconnection) and run on that backend only.
 */
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

typedef enum backend { BK_SQLITE, BK_PG } backend;

#define MAX_DBS 4        /* the fixture's database plus fresh ones a test asks for */
#define SCHEMA_VERSION 7 /* migrations both backends ship */

typedef struct fixture {
    backend kind;
    char dir[64];          /* SQLite: this test's directory */
    char path[128];        /* SQLite: the database file */
    char url[1024];        /* what kh_store_open gets */
    char reopen_url[1024]; /* SQLite reopens by bare path, the third URL form */
    PGconn *admin;         /* PostgreSQL: creates and drops this test's schemas */
    char schemas[MAX_DBS][64];
    int n_schemas;
    int n_fresh;
    kh_store *s;
    int64_t realm;
} fixture;

static const char *pg_url; /* KH_TEST_PG_URL, NULL when unset */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int admin_exec(fixture *f, const char *sql)
{
    PGresult *res = PQexec(f->admin, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "test: %s: %s", sql, PQerrorMessage(f->admin));
    PQclear(res);
    return ok ? 0 : -1;
}

/* A new empty PostgreSQL schema and the URL that selects it. The schema
 * name doubles as application_name so a test can find its connections. */
static int pg_new_db(fixture *f, char *url, size_t url_size)
{
    static int counter;
    if (f->n_schemas == MAX_DBS)
        return -1;
    char *name = f->schemas[f->n_schemas];
    snprintf(name, sizeof(f->schemas[0]), "kh_test_%ld_%d", (long)getpid(), ++counter);
    char sql[256];
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", name, name);
    if (admin_exec(f, sql) != 0)
        return -1;
    f->n_schemas++;
    int n = snprintf(url, url_size, "%s%coptions=-csearch_path%%3D%s&application_name=%s", pg_url,
                     strchr(pg_url, '?') ? '&' : '?', name, name);
    return n > 0 && (size_t)n < url_size ? 0 : -1;
}

/* A second, empty database of the fixture's backend (for tests that open
 * several stores on a database nobody has migrated yet). */
static void fresh_db(fixture *f, char *url, size_t url_size)
{
    if (f->kind == BK_PG) {
        assert_int_equal(pg_new_db(f, url, url_size), 0);
        return;
    }
    snprintf(url, url_size, "sqlite://%s/fresh%d.db", f->dir, ++f->n_fresh);
}

/* Run sql on the fixture's database behind the store's back. */
static void raw_exec(fixture *f, const char *sql)
{
    if (f->kind == BK_PG) {
        char set[128];
        snprintf(set, sizeof(set), "SET search_path TO %s", f->schemas[0]);
        assert_int_equal(admin_exec(f, set), 0);
        assert_int_equal(admin_exec(f, sql), 0);
        assert_int_equal(admin_exec(f, "RESET search_path"), 0);
        return;
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static int open_fixture_store(fixture *f)
{
    int applied = -1;
    if (kh_store_open(f->url, &f->s) != KH_OK || kh_store_migrate(f->s, &applied) != KH_OK ||
        applied != SCHEMA_VERSION || kh_store_realm_ensure(f->s, "default", &f->realm) != KH_OK)
        return -1;
    return 0;
}

static int setup_sqlite(void **state)
{
    fixture *f = kh_xcalloc(1, sizeof(*f));
    *state = f;
    f->kind = BK_SQLITE;
    snprintf(f->dir, sizeof(f->dir), "/tmp/kh_store_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/keyhold.db", f->dir);
    snprintf(f->url, sizeof(f->url), "sqlite://%s", f->path); /* sqlite:///tmp/... */
    snprintf(f->reopen_url, sizeof(f->reopen_url), "%s", f->path);
    return open_fixture_store(f);
}

static int setup_pg(void **state)
{
    fixture *f = kh_xcalloc(1, sizeof(*f));
    *state = f;
    f->kind = BK_PG;
    f->admin = PQconnectdb(pg_url);
    if (PQstatus(f->admin) != CONNECTION_OK) {
        fprintf(stderr, "test: cannot connect to KH_TEST_PG_URL: %s", PQerrorMessage(f->admin));
        return -1;
    }
    PQsetNoticeProcessor(f->admin, quiet_notice, NULL);
    if (pg_new_db(f, f->url, sizeof(f->url)) != 0)
        return -1;
    snprintf(f->reopen_url, sizeof(f->reopen_url), "%s", f->url);
    return open_fixture_store(f);
}

static int teardown(void **state)
{
    fixture *f = *state;
    kh_store_close(&f->s);
    if (f->kind == BK_SQLITE && f->dir[0] && strcmp(f->dir, "/tmp/kh_store_XXXXXX") != 0)
        nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    for (int i = 0; i < f->n_schemas; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", f->schemas[i]);
        (void)admin_exec(f, sql);
    }
    if (f->admin)
        PQfinish(f->admin);
    free(f);
    return 0;
}

static void reopen(fixture *f)
{
    kh_store_close(&f->s);
    assert_null(f->s);
    assert_int_equal(kh_store_open(f->reopen_url, &f->s), KH_OK);
}

static void free_uids(char **uids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(uids[i]);
    free(uids);
}

static size_t count_locate(kh_store *s, const kh_locate_query *q)
{
    char **uids = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_object_locate(s, q, &uids, &n), KH_OK);
    free_uids(uids, n);
    return n;
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

static kh_audit_row op_row(const char *op, const char *uid, const char *result)
{
    kh_audit_row r = {0};
    r.time_us = 42;
    r.principal = "alice";
    r.client_addr = "127.0.0.1:1";
    r.operation = (char *)op;
    r.object_uid = (char *)uid;
    r.result = (char *)result;
    return r;
}

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
    kh_audit_row r = op_row("Create", "aud-a", "KH_OK");
    assert_int_equal(kh_store_object_insert_audited(f->s, one, 1, &r), KH_OK);
    assert_int_equal(r.id, 1);
    assert_int_equal(head_id(f), 1);

    /* a taken uid: neither the object nor the row */
    kh_obj_row b = make_row(f, "aud-b", "alice", 2, 2);
    const kh_obj_row *two[] = {&b, &a};
    r = op_row("CreateKeyPair", "", "KH_OK");
    assert_int_equal(kh_store_object_insert_audited(f->s, two, 2, &r), KH_ERR_EXISTS);
    assert_int_equal(head_id(f), 1);
    kh_obj_row *got = NULL;
    assert_int_equal(kh_store_object_get(f->s, "aud-b", &got), KH_ERR_NOT_FOUND);
    r = op_row("CreateKeyPair", "", "KH_ERR_EXISTS"); /* what ops/audit.c appends then */
    assert_int_equal(kh_store_audit_append(f->s, &r), KH_OK);
    assert_int_equal(r.id, 2);

    /* updates: a stale revision writes nothing; the current one both */
    assert_int_equal(kh_store_object_get(f->s, "aud-a", &got), KH_OK);
    kh_obj_row upd = *got;
    upd.state = 2;
    upd.revision = got->revision + 1;
    r = op_row("Activate", "aud-a", "KH_OK");
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
    r = op_row("Destroy", "aud-none", "KH_OK");
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
        kh_audit_row r = op_row("Create", uid, "KH_OK");
        r.time_us = 1000 * w->id + i;
        kh_err err = w->id % 4 == 3 ? kh_store_object_insert(w->f->s, &o)
                                    : kh_store_object_insert_audited(w->f->s, rows, 1, &r);
        if (err != KH_OK || w->id % 4 == 3) {
            r = op_row("Create", uid, kh_err_name(err));
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
    int64_t total = -1;
    assert_int_equal(verify_broken(f, &total), 0);
    assert_int_equal(total, N);
    kh_audit_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_audit_read(f->s, 0, N + 1, &rows, &n), KH_OK);
    assert_int_equal(n, N);
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
    kh_audit_row r = op_row("kes_key_create", "uid-e", "KH_OK");
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

static void test_pg_skipped(void **state)
{
    (void)state;
    printf("PostgreSQL half skipped: KH_TEST_PG_URL is not set"
           " (scripts/pg-test-server start DIR prints one)\n");
    skip();
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
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_concurrent_batches_isolate_failures, setup,           \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_concurrent_migrate, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(test_two_nodes, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_concurrent_realm_keys, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),                        \
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
        cmocka_unit_test_setup_teardown(test_grants, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_locate_visible, setup, teardown),                     \
        cmocka_unit_test_setup_teardown(test_kes_names, setup, teardown)

int main(void)
{
    /* Failures below are expected and logged; KH_TEST_LOG=1 shows them. */
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    pg_url = getenv("KH_TEST_PG_URL");
    if (pg_url && !*pg_url)
        pg_url = NULL;
    const struct CMUnitTest sqlite_tests[] = {
        CONTRACT_TESTS(setup_sqlite),
        cmocka_unit_test_setup_teardown(test_sqlite_file_private, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_open_urls, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_pg_url_password_not_logged, setup_sqlite, teardown),
    };
    const struct CMUnitTest pg_tests[] = {
        CONTRACT_TESTS(setup_pg),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_pg_invalid_utf8, setup_pg, teardown),
    };
    const struct CMUnitTest pg_skipped[] = {cmocka_unit_test(test_pg_skipped)};
    int failed = cmocka_run_group_tests_name("store on sqlite", sqlite_tests, NULL, NULL);
    if (pg_url)
        failed += cmocka_run_group_tests_name("store on postgresql", pg_tests, NULL, NULL);
    else
        failed += cmocka_run_group_tests_name("store on postgresql", pg_skipped, NULL, NULL);
    return failed;
}
