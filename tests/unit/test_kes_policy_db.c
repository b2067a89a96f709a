/*
 * test_kes_policy_db.c - unit tests for src/store/store_kes_policy.c and
 * src/ops/kes_policy_db.c, on SQLite and, when KH_TEST_PG_URL is set,
 * PostgreSQL (a fresh schema per test), from the same code.
 *
 * "Nodes" are separate store handles, policy sets and keepers on one
 * database, as several keyhold processes sharing it are.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/mem.h"
#include "crypto/secbuf.h"
#include "ops/kes_policy.h"
#include "ops/kes_policy_db.h"
#include "store/store.h"
#include "test_db.h"

#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID2 "2222222222222222222222222222222222222222222222222222222222222222"
#define ADMIN "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

typedef struct node {
    kh_store *s;
    kh_service svc;
    kh_kes_policies *pol;
    kh_kes_policy_db *db;
} node;

typedef struct fixture {
    kh_test_db db;
    node n[3];
} fixture;

/* Node i on the fixture's database: migrated store, empty policy set with
 * admin ADMIN, keeper checking every refresh_secs. Not bootstrapped. */
static void node_open(fixture *f, int i, unsigned refresh_secs)
{
    node *n = &f->n[i];
    assert_int_equal(kh_store_open(f->db.url, &n->s), KH_OK);
    assert_int_equal(kh_store_migrate(n->s, NULL), KH_OK);
    n->svc.store = n->s;
    n->svc.server_name = "test";
    n->pol = kh_kes_policies_new();
    assert_int_equal(kh_kes_admin_set(n->pol, ADMIN), KH_OK);
    n->db = kh_kes_policy_db_new(&n->svc, n->pol, refresh_secs);
    n->svc.kes_policy_db = n->db;
}

static void node_close(node *n)
{
    kh_kes_policy_db_free(&n->db);
    kh_kes_policies_free(&n->pol);
    kh_store_close(&n->s);
    memset(n, 0, sizeof(*n));
}

static int setup(void **state, const char *pg)
{
    fixture *f = kh_xcalloc(1, sizeof(*f));
    *state = f;
    return kh_test_db_open(&f->db, pg, "kespol");
}

KH_TEST_DB_SETUPS(setup)

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 3; i++)
        node_close(&f->n[i]);
    kh_test_db_close(&f->db);
    free(f);
    return 0;
}

static kh_kes_policy_row prow(const char *name, char **allow, size_t na, char **deny, size_t nd)
{
    kh_kes_policy_row p = {(char *)name, allow, na, deny, nd, 1700000000, "tester"};
    return p;
}

static int64_t version(kh_store *s)
{
    int64_t v = -1;
    assert_int_equal(kh_store_kes_policy_version(s, &v), KH_OK);
    return v;
}

/* ---- store ------------------------------------------------------------------ */

static void test_store_policies(void **state)
{
    fixture *f = *state;
    node_open(f, 0, 0);
    kh_store *s = f->n[0].s;
    char *allow[] = {"/v1/key/create/app-*", "/v1/status"}, *deny[] = {"/v1/key/delete/*"};
    char *other[] = {"/v1/key/describe/*"}, *spaced[] = {"/v1/key/ x"}, *empty[] = {""};
    int changed = -1;
    assert_int_equal(version(s), 0);
    kh_kes_policy_row p = prow("app", allow, 2, deny, 1);
    assert_int_equal(kh_store_kes_policy_put(s, &p, &changed), KH_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(version(s), 1);
    /* the same again changes nothing, not even the version */
    assert_int_equal(kh_store_kes_policy_put(s, &p, &changed), KH_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(version(s), 1);
    kh_kes_policy_row q = prow("reader", other, 1, NULL, 0);
    assert_int_equal(kh_store_kes_policy_put(s, &q, &changed), KH_OK);
    assert_int_equal(version(s), 2);
    /* malformed: refused before anything is written */
    kh_kes_policy_row bad = prow("bad", spaced, 1, NULL, 0);
    assert_int_equal(kh_store_kes_policy_put(s, &bad, NULL), KH_ERR_INVALID_ARG);
    bad = prow("bad", empty, 1, NULL, 0);
    assert_int_equal(kh_store_kes_policy_put(s, &bad, NULL), KH_ERR_INVALID_ARG);
    bad = prow("", other, 1, NULL, 0);
    assert_int_equal(kh_store_kes_policy_put(s, &bad, NULL), KH_ERR_INVALID_ARG);
    assert_int_equal(version(s), 2);
    /* round trip, by name */
    kh_kes_policy_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_kes_policy_list(s, &rows, &n), KH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "app");
    assert_int_equal(rows[0].n_allow, 2);
    assert_string_equal(rows[0].allow[0], "/v1/key/create/app-*");
    assert_string_equal(rows[0].allow[1], "/v1/status");
    assert_int_equal(rows[0].n_deny, 1);
    assert_string_equal(rows[0].deny[0], "/v1/key/delete/*");
    assert_string_equal(rows[0].created_by, "tester");
    assert_string_equal(rows[1].name, "reader");
    assert_int_equal(rows[1].n_deny, 0);
    kh_kes_policy_rows_free(rows, n);
    /* replace: new rules */
    p = prow("app", other, 1, NULL, 0);
    assert_int_equal(kh_store_kes_policy_put(s, &p, &changed), KH_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(version(s), 3);
    assert_int_equal(kh_store_kes_policy_delete(s, "app"), KH_OK);
    assert_int_equal(kh_store_kes_policy_delete(s, "app"), KH_ERR_NOT_FOUND);
    assert_int_equal(version(s), 4);
    assert_int_equal(kh_store_kes_policy_list(s, &rows, &n), KH_OK);
    assert_int_equal(n, 1);
    kh_kes_policy_rows_free(rows, n);
}

static void test_store_assignments(void **state)
{
    fixture *f = *state;
    node_open(f, 0, 0);
    kh_store *s = f->n[0].s;
    char *allow[] = {"/v1/key/describe/*"};
    kh_kes_policy_row p = prow("p1", allow, 1, NULL, 0), q = prow("p2", allow, 1, NULL, 0);
    assert_int_equal(kh_store_kes_policy_put(s, &p, NULL), KH_OK);
    assert_int_equal(kh_store_kes_policy_put(s, &q, NULL), KH_OK);
    int changed = -1;
    kh_kes_assignment_row a = {ID1, "nope", 1700000000, "tester"};
    assert_int_equal(kh_store_kes_assign(s, &a, &changed), KH_ERR_NOT_FOUND);
    a.policy = "p1";
    int64_t v = version(s);
    assert_int_equal(kh_store_kes_assign(s, &a, &changed), KH_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(kh_store_kes_assign(s, &a, &changed), KH_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(version(s), v + 1);
    a.policy = "p2"; /* reassign */
    assert_int_equal(kh_store_kes_assign(s, &a, &changed), KH_OK);
    assert_int_equal(changed, 1);
    kh_kes_assignment_row b = {ID2, "p1", 1700000000, "tester"};
    assert_int_equal(kh_store_kes_assign(s, &b, NULL), KH_OK);
    kh_kes_assignment_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_kes_assignment_list(s, &rows, &n), KH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].identity, ID1);
    assert_string_equal(rows[0].policy, "p2");
    assert_string_equal(rows[1].identity, ID2);
    assert_string_equal(rows[1].assigned_by, "tester");
    kh_kes_assignment_rows_free(rows, n);
    /* deleting a policy takes its assignments with it */
    assert_int_equal(kh_store_kes_policy_delete(s, "p1"), KH_OK);
    assert_int_equal(kh_store_kes_assignment_list(s, &rows, &n), KH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].identity, ID1);
    kh_kes_assignment_rows_free(rows, n);
    assert_int_equal(kh_store_kes_unassign(s, ID1), KH_OK);
    assert_int_equal(kh_store_kes_unassign(s, ID1), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_kes_unassign(s, ""), KH_ERR_INVALID_ARG);
}

/* ---- keeper ----------------------------------------------------------------- */

static kh_ctx ctx_of(node *n)
{
    kh_ctx c = {.principal = "tester", .now = 1700000000, .svc = &n->svc};
    return c;
}

static kh_err check(node *n, const char *id, const char *path)
{
    return kh_kes_policy_check(n->pol, id, path);
}

static void test_changes_reach_other_nodes(void **state)
{
    fixture *f = *state;
    node_open(f, 0, 0);
    node_open(f, 1, 0);    /* checks on every request */
    node_open(f, 2, 3600); /* checks at most once an hour */
    for (int i = 0; i < 3; i++)
        assert_int_equal(kh_kes_policy_db_bootstrap(f->n[i].db), KH_OK);
    node *a = &f->n[0], *b = &f->n[1], *c = &f->n[2];
    kh_ctx ctx = ctx_of(a);
    char *allow[] = {"/v1/key/describe/*"};
    kh_kes_policy p = {"reader", allow, 1, NULL, 0, 0, NULL};
    assert_int_equal(kh_op_kes_policy_put(&ctx, &p), KH_OK);
    assert_int_equal(kh_op_kes_assign(&ctx, ID1, "reader"), KH_OK);
    /* the node that made the change serves it at once */
    assert_int_equal(check(a, ID1, "/v1/key/describe/k"), KH_OK);
    /* another node: on its next check */
    assert_int_equal(check(b, ID1, "/v1/key/describe/k"), KH_ERR_PERMISSION);
    assert_int_equal(kh_kes_policy_db_refresh(b->db, false), KH_OK);
    assert_int_equal(check(b, ID1, "/v1/key/describe/k"), KH_OK);
    assert_int_equal(check(b, ID1, "/v1/key/create/k"), KH_ERR_PERMISSION);
    /* a node that checked less than refresh_secs ago keeps its set until
     * the next check is due, or is forced */
    assert_int_equal(kh_kes_policy_db_refresh(c->db, false), KH_OK);
    assert_int_equal(check(c, ID1, "/v1/key/describe/k"), KH_ERR_PERMISSION);
    assert_int_equal(kh_kes_policy_db_refresh(c->db, true), KH_OK);
    assert_int_equal(check(c, ID1, "/v1/key/describe/k"), KH_OK);
    /* a deny rule added on node b reaches node a */
    char *deny[] = {"/v1/key/describe/secret-*"};
    kh_kes_policy p2 = {"reader", allow, 1, deny, 1, 0, NULL};
    kh_ctx bctx = ctx_of(b);
    assert_int_equal(kh_op_kes_policy_put(&bctx, &p2), KH_OK);
    assert_int_equal(kh_kes_policy_db_refresh(a->db, false), KH_OK);
    assert_int_equal(check(a, ID1, "/v1/key/describe/secret-1"), KH_ERR_PERMISSION);
    assert_int_equal(check(a, ID1, "/v1/key/describe/public-1"), KH_OK);
    /* unassign and delete */
    assert_int_equal(kh_op_kes_unassign(&ctx, ID1), KH_OK);
    assert_int_equal(kh_op_kes_unassign(&ctx, ID1), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_policy_db_refresh(b->db, false), KH_OK);
    assert_int_equal(check(b, ID1, "/v1/key/describe/k"), KH_ERR_PERMISSION);
    assert_int_equal(kh_op_kes_policy_delete(&ctx, "reader"), KH_OK);
    assert_int_equal(kh_op_kes_policy_delete(&ctx, "reader"), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_op_kes_assign(&ctx, ID1, "reader"), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_policy_db_refresh(b->db, false), KH_OK);
    kh_kes_policy got = {0};
    assert_int_equal(kh_kes_policy_get(b->pol, "reader", &got), KH_ERR_NOT_FOUND);
}

static void test_op_validation(void **state)
{
    fixture *f = *state;
    node_open(f, 0, 0);
    node *a = &f->n[0];
    assert_int_equal(kh_kes_policy_db_bootstrap(a->db), KH_OK);
    kh_ctx ctx = ctx_of(a);
    char *good[] = {"/v1/key/describe/*"}, *rel[] = {"v1/key/describe/*"};
    kh_kes_policy p = {"bad name", good, 1, NULL, 0, 0, NULL};
    assert_int_equal(kh_op_kes_policy_put(&ctx, &p), KH_ERR_INVALID_ARG);
    p = (kh_kes_policy){"ok", rel, 1, NULL, 0, 0, NULL};
    assert_int_equal(kh_op_kes_policy_put(&ctx, &p), KH_ERR_INVALID_ARG);
    p = (kh_kes_policy){"ok", good, 1, NULL, 0, 0, NULL};
    assert_int_equal(kh_op_kes_policy_put(&ctx, &p), KH_OK);
    assert_int_equal(kh_op_kes_assign(&ctx, "ABCD", "ok"), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_op_kes_assign(&ctx, ADMIN, "ok"), KH_ERR_INVALID_ARG);
    assert_int_equal(version(a->s), 1); /* nothing refused was written */
    /* a service without a keeper has no KES policy API */
    kh_service bare = {.store = a->s};
    kh_ctx bctx = {.principal = "tester", .now = 1, .svc = &bare};
    assert_int_equal(kh_op_kes_policy_put(&bctx, &p), KH_ERR_UNSUPPORTED);
    assert_int_equal(kh_op_kes_assign(&bctx, ID1, "ok"), KH_ERR_UNSUPPORTED);
}

static void test_bootstrap_precedence(void **state)
{
    fixture *f = *state;
    node_open(f, 0, 0);
    node *a = &f->n[0];
    kh_store *s = a->s;
    /* the database before: "shared" and "dbonly" made through the admin
     * API, an assignment of this node's admin identity by another node */
    char *old[] = {"/v1/status"}, *dbrule[] = {"/v1/key/list/*"};
    kh_kes_policy_row p = prow("shared", old, 1, NULL, 0), q = prow("dbonly", dbrule, 1, NULL, 0);
    assert_int_equal(kh_store_kes_policy_put(s, &p, NULL), KH_OK);
    assert_int_equal(kh_store_kes_policy_put(s, &q, NULL), KH_OK);
    kh_kes_assignment_row adm = {ADMIN, "dbonly", 1, "tester"};
    kh_kes_assignment_row two = {ID2, "dbonly", 1, "tester"};
    assert_int_equal(kh_store_kes_assign(s, &adm, NULL), KH_OK);
    assert_int_equal(kh_store_kes_assign(s, &two, NULL), KH_OK);
    /* the file: "shared" with other rules, "fileonly", ID1 -> shared */
    char *fr[] = {"/v1/key/describe/*"};
    kh_kes_policy fp = {"shared", fr, 1, NULL, 0, 0, ""}, fo = {"fileonly", fr, 1, NULL, 0, 0, ""};
    assert_int_equal(kh_kes_policy_put(a->pol, &fp), KH_OK);
    assert_int_equal(kh_kes_policy_put(a->pol, &fo), KH_OK);
    assert_int_equal(kh_kes_identity_assign(a->pol, ID1, "shared"), KH_OK);
    assert_int_equal(kh_kes_policy_db_bootstrap(a->db), KH_OK);
    /* the file's entry won; the database's own entries stayed */
    assert_int_equal(check(a, ID1, "/v1/key/describe/x"), KH_OK);
    assert_int_equal(check(a, ID1, "/v1/status"), KH_ERR_PERMISSION);
    assert_int_equal(check(a, ID2, "/v1/key/list/x"), KH_OK);
    kh_kes_policy_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_kes_policy_list(s, &rows, &n), KH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[2].name, "shared");
    assert_string_equal(rows[2].allow[0], "/v1/key/describe/*");
    assert_string_equal(rows[2].created_by, "config");
    kh_kes_policy_rows_free(rows, n);
    /* the admin's stored assignment does not limit it on this node */
    assert_true(kh_kes_is_admin(a->pol, ADMIN));
    char cur[KH_KES_POLICY_NAME_MAX + 1];
    assert_int_equal(kh_kes_identity_policy(a->pol, ADMIN, cur), KH_ERR_NOT_FOUND);
    /* a restart whose file no longer has "fileonly" or ID1: what the file
     * put there goes, the rest stays; a restart with the same file
     * changes nothing (no reload for the other nodes) */
    node_close(a);
    node_open(f, 0, 0);
    a = &f->n[0];
    assert_int_equal(kh_kes_policy_put(a->pol, &fp), KH_OK);
    assert_int_equal(kh_kes_policy_db_bootstrap(a->db), KH_OK);
    assert_int_equal(check(a, ID1, "/v1/key/describe/x"), KH_ERR_PERMISSION);
    assert_int_equal(check(a, ID2, "/v1/key/list/x"), KH_OK);
    kh_kes_policy got = {0};
    assert_int_equal(kh_kes_policy_get(a->pol, "fileonly", &got), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_kes_policy_get(a->pol, "dbonly", &got), KH_OK);
    kh_kes_policy_clear(&got);
    int64_t v = version(a->s);
    node_close(a);
    node_open(f, 0, 0);
    a = &f->n[0];
    assert_int_equal(kh_kes_policy_put(a->pol, &fp), KH_OK);
    assert_int_equal(kh_kes_policy_db_bootstrap(a->db), KH_OK);
    assert_int_equal(version(a->s), v);
}

#define BACKEND_TESTS(setup)                                                                       \
    cmocka_unit_test_setup_teardown(test_store_policies, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_store_assignments, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_changes_reach_other_nodes, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_op_validation, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_bootstrap_precedence, setup, teardown)

int main(void)
{
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    if (kh_crypto_init(0) != KH_OK)
        return 1;
    const struct CMUnitTest sqlite_tests[] = {BACKEND_TESTS(setup_sqlite)};
    const struct CMUnitTest pg_tests[] = {BACKEND_TESTS(setup_pg)};
    return KH_TEST_DB_RUN("kes policies", sqlite_tests, pg_tests);
}
