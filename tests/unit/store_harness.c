/*
 * store_harness.c - the store unit tests' fixture (store_harness.h).
 */
#include "store_harness.h"
#include "test_db.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/mem.h"

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

const char *pg_url;

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

int admin_exec(fixture *f, const char *sql)
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
int pg_new_db(fixture *f, char *url, size_t url_size)
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
void fresh_db(fixture *f, char *url, size_t url_size)
{
    if (f->kind == BK_PG) {
        assert_int_equal(pg_new_db(f, url, url_size), 0);
        return;
    }
    snprintf(url, url_size, "sqlite://%s/fresh%d.db", f->dir, ++f->n_fresh);
}

/* Run sql on the fixture's database behind the store's back. */
void raw_exec(fixture *f, const char *sql)
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

int setup_sqlite(void **state)
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

int setup_pg(void **state)
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

int teardown(void **state)
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

void reopen(fixture *f)
{
    kh_store_close(&f->s);
    assert_null(f->s);
    assert_int_equal(kh_store_open(f->reopen_url, &f->s), KH_OK);
}

void free_uids(char **uids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(uids[i]);
    free(uids);
}

size_t count_locate(kh_store *s, const kh_locate_query *q)
{
    char **uids = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_object_locate(s, q, &uids, &n), KH_OK);
    free_uids(uids, n);
    return n;
}

kh_obj_row make_row(const fixture *f, const char *uid, const char *owner, int32_t type,
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

void insert_simple(fixture *f, const char *uid, const char *owner, int32_t type, int64_t created_at)
{
    kh_obj_row r = make_row(f, uid, owner, type, created_at);
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
}

kh_audit_row audit_op_row(const char *op, const char *uid, const char *result)
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

void store_harness_init(void)
{
    /* Failures below are expected and logged; KH_TEST_LOG=1 shows them. */
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    pg_url = kh_test_db_pg_url();
}

int store_harness_run(const struct CMUnitTest *sqlite_tests, size_t n_sqlite,
                      const struct CMUnitTest *pg_tests, size_t n_pg)
{
    return kh_test_db_run("store", sqlite_tests, n_sqlite, pg_tests, n_pg);
}
