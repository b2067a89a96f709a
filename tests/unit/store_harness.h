/*
 * store_harness.h - what the store unit tests (test_store*.c) share: one
 * fixture for every backend.
 *
 * Every test of the store contract (store.h) runs once on SQLite and once
 * on PostgreSQL, from the same code: a backend only decides how a fixture
 * gets an empty database. SQLite always runs, on a fresh file under a
 * mkdtemp directory per test. PostgreSQL runs when KH_TEST_PG_URL names a
 * database (scripts/pg-test-server start DIR prints one); each test gets a
 * fresh schema, selected through the URL's options=-csearch_path=..., and
 * drops it afterwards, so tests never see each other's rows.
 */
#ifndef KH_TESTS_STORE_HARNESS_H
#define KH_TESTS_STORE_HARNESS_H

#include "store/store.h"

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct CMUnitTest;

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

extern const char *pg_url; /* KH_TEST_PG_URL, NULL when unset */

/* Fixture setups (state = a fixture with a migrated store and the default
 * realm) and their teardown. */
int setup_sqlite(void **state);
int setup_pg(void **state);
int teardown(void **state);

int admin_exec(fixture *f, const char *sql); /* PostgreSQL: as the fixture's admin */
int pg_new_db(fixture *f, char *url, size_t url_size);
/* A second, empty database of the fixture's backend (for tests that open
 * several stores on a database nobody has migrated yet). */
void fresh_db(fixture *f, char *url, size_t url_size);
/* Run sql on the fixture's database behind the store's back. */
void raw_exec(fixture *f, const char *sql);
void reopen(fixture *f); /* close and open the store again */
void free_uids(char **uids, size_t n);
size_t count_locate(kh_store *s, const kh_locate_query *q);
kh_obj_row make_row(const fixture *f, const char *uid, const char *owner, int32_t type,
                    int64_t created_at);
void insert_simple(fixture *f, const char *uid, const char *owner, int32_t type,
                   int64_t created_at);
/* An audit row of alice's from 127.0.0.1:1 (strings borrowed). */
kh_audit_row audit_op_row(const char *op, const char *uid, const char *result);

/* Quiet logs (KH_TEST_LOG=1 shows them) and read KH_TEST_PG_URL. */
void store_harness_init(void);
/* Run the SQLite group, then the PostgreSQL one (or say it is skipped);
 * the number of failures. */
int store_harness_run(const struct CMUnitTest *sqlite_tests, size_t n_sqlite,
                      const struct CMUnitTest *pg_tests, size_t n_pg);

#endif
