/*
 * test_users.c - unit tests for src/store/store_users.c (on SQLite and,
 * when KH_TEST_PG_URL is set, PostgreSQL), src/ops/users.c and
 * src/proto/proxy.c.
 *
 * Every store and ops test runs once per backend from the same code; the
 * PostgreSQL half gets a fresh schema per test (as test_store.c does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/mem.h"
#include "crypto/secbuf.h"
#include "ops/users.h"
#include "proto/authn.h"
#include "proto/proxy.h"
#include "store/store.h"
#include "test_db.h"

#include <ftw.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
    kh_test_db db;
    kh_store *s;
    kh_service svc;
} fixture;

static int setup(void **state, const char *pg)
{
    fixture *f = kh_xcalloc(1, sizeof(*f));
    *state = f;
    if (kh_test_db_open(&f->db, pg, "users") != 0 || kh_store_open(f->db.url, &f->s) != KH_OK ||
        kh_store_migrate(f->s, NULL) != KH_OK)
        return -1;
    f->svc.store = f->s;
    f->svc.server_name = "test";
    return 0;
}

KH_TEST_DB_SETUPS(setup)

static int teardown(void **state)
{
    fixture *f = *state;
    kh_store_close(&f->s);
    kh_test_db_close(&f->db);
    free(f);
    return 0;
}

static kh_user_row user(const char *id, const char *org, const char *profile, int64_t at)
{
    kh_user_row u = {.id = (char *)id,
                     .organization = (char *)org,
                     .created_at = at,
                     .label = "Label",
                     .email = "e@example.com",
                     .profile = (char *)profile,
                     .revoked_at = 0,
                     .at = at,
                     .change = "create",
                     .actor = "tester"};
    return u;
}

#define U1 "11111111-1111-4111-8111-111111111111"
#define U2 "22222222-2222-4222-8222-222222222222"

/* ---- store ---------------------------------------------------------------- */

static void test_organizations(void **state)
{
    fixture *f = *state;
    kh_org_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_org_list(f->s, &rows, &n), KH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "default");
    assert_true(rows[0].created_at > 1600000000);
    kh_org_rows_free(rows, n);
    assert_int_equal(kh_store_org_create(f->s, "acme", 1700000000), KH_OK);
    assert_int_equal(kh_store_org_create(f->s, "acme", 1700000001), KH_ERR_EXISTS);
    assert_int_equal(kh_store_org_create(f->s, "", 1), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_store_org_list(f->s, &rows, &n), KH_OK);
    assert_int_equal(n, 2);
    kh_org_rows_free(rows, n);
}

static void test_users_and_history(void **state)
{
    fixture *f = *state;
    kh_user_row u = user(U1, "default", "STANDARD", 100), got = {0};
    assert_int_equal(kh_store_user_create(f->s, &u), KH_OK);
    assert_int_equal(kh_store_user_create(f->s, &u), KH_ERR_EXISTS);
    kh_user_row orphan = user(U2, "nowhere", "STANDARD", 100);
    assert_int_equal(kh_store_user_create(f->s, &orphan), KH_ERR_NOT_FOUND);
    kh_user_row bad = user(U2, "default", "ROOT", 100);
    assert_int_not_equal(kh_store_user_create(f->s, &bad), KH_OK); /* CHECK constraint */

    kh_user_row upd = u;
    upd.profile = "ADMIN";
    upd.at = 200;
    upd.change = "update";
    upd.actor = "boss";
    upd.revision = 1; /* what kh_store_user_get said */
    assert_int_equal(kh_store_user_append(f->s, &upd), KH_OK);
    /* a change based on the state before that one loses */
    assert_int_equal(kh_store_user_append(f->s, &upd), KH_ERR_CONFLICT);
    kh_user_row rev = upd;
    rev.revoked_at = 300;
    rev.at = 300;
    rev.change = "revoke";
    rev.revision = 2;
    assert_int_equal(kh_store_user_append(f->s, &rev), KH_OK);
    kh_user_row ghost = upd;
    ghost.id = U2;
    assert_int_equal(kh_store_user_append(f->s, &ghost), KH_ERR_NOT_FOUND);

    assert_int_equal(kh_store_user_get(f->s, U1, &got), KH_OK);
    assert_string_equal(got.profile, "ADMIN");
    assert_int_equal(got.revoked_at, 300);
    assert_int_equal(got.created_at, 100);
    assert_string_equal(got.change, "revoke");
    assert_string_equal(got.organization, "default");
    assert_int_equal(got.revision, 3);
    kh_user_row_clear(&got);
    assert_int_equal(kh_store_user_get(f->s, U2, &got), KH_ERR_NOT_FOUND);

    kh_user_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_user_history(f->s, U1, &rows, &n), KH_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].change, "create");
    assert_string_equal(rows[0].profile, "STANDARD");
    assert_string_equal(rows[1].actor, "boss");
    assert_int_equal(rows[2].at, 300);
    kh_user_rows_free(rows, n);

    assert_int_equal(kh_store_org_create(f->s, "acme", 1), KH_OK);
    kh_user_row other = user(U2, "acme", "OUTSIDER", 150);
    assert_int_equal(kh_store_user_create(f->s, &other), KH_OK);
    assert_int_equal(kh_store_user_list(f->s, NULL, &rows, &n), KH_OK);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].id, U1); /* oldest first, current states */
    assert_string_equal(rows[0].profile, "ADMIN");
    kh_user_rows_free(rows, n);
    assert_int_equal(kh_store_user_list(f->s, "acme", &rows, &n), KH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, U2);
    kh_user_rows_free(rows, n);
}

static void test_identities(void **state)
{
    fixture *f = *state;
    kh_user_row a = user(U1, "default", "STANDARD", 1), b = user(U2, "default", "STANDARD", 1);
    kh_user_row got = {0};
    assert_int_equal(kh_store_user_create(f->s, &a), KH_OK);
    assert_int_equal(kh_store_user_create(f->s, &b), KH_OK);
    assert_int_equal(kh_store_identity_add(f->s, "tls:aa", U1, 10), KH_OK);
    assert_int_equal(kh_store_identity_add(f->s, "tls:aa", U1, 11), KH_ERR_EXISTS);
    assert_int_equal(kh_store_identity_add(f->s, "tls:aa", U2, 11), KH_ERR_EXISTS);
    assert_int_equal(kh_store_identity_add(f->s, "tls:bb", "no-such-user", 11), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_identity_user(f->s, "tls:aa", &got), KH_OK);
    assert_string_equal(got.id, U1);
    kh_user_row_clear(&got);
    assert_int_equal(kh_store_identity_user(f->s, "tls:zz", &got), KH_ERR_NOT_FOUND);

    assert_int_equal(kh_store_identity_remove(f->s, "tls:aa", U2, 12), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_identity_remove(f->s, "tls:aa", U1, 12), KH_OK);
    assert_int_equal(kh_store_identity_remove(f->s, "tls:aa", U1, 13), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_identity_user(f->s, "tls:aa", &got), KH_ERR_NOT_FOUND);
    /* the removed row stays; the identity may go to someone else */
    assert_int_equal(kh_store_identity_add(f->s, "tls:aa", U2, 14), KH_OK);
    assert_int_equal(kh_store_identity_user(f->s, "tls:aa", &got), KH_OK);
    assert_string_equal(got.id, U2);
    kh_user_row_clear(&got);
    kh_identity_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_identity_list(f->s, U1, &rows, &n), KH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].removed_at, 12);
    kh_identity_rows_free(rows, n);
}

static void test_apikeys(void **state)
{
    fixture *f = *state;
    kh_user_row a = user(U1, "default", "STANDARD", 1), got = {0};
    assert_int_equal(kh_store_user_create(f->s, &a), KH_OK);
    kh_apikey_row k = {.id = "00112233aabbccdd",
                       .user_id = U1,
                       .label = "ci",
                       .secret_sha256 = "ab",
                       .created_at = 5},
                  out = {0};
    assert_int_equal(kh_store_apikey_create(f->s, &k), KH_OK);
    assert_int_not_equal(kh_store_apikey_create(f->s, &k), KH_OK);
    kh_apikey_row orphan = k;
    orphan.id = "ffffffffffffffff";
    orphan.user_id = U2;
    assert_int_equal(kh_store_apikey_create(f->s, &orphan), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_apikey_get(f->s, "ffffffffffffffff", &out), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_apikey_get(f->s, k.id, &out), KH_OK);
    assert_string_equal(out.secret_sha256, "ab");
    assert_int_equal(out.revoked_at, 0);
    kh_apikey_row_clear(&out);
    assert_int_equal(kh_store_identity_user(f->s, "apikey:00112233aabbccdd", &got), KH_OK);
    kh_user_row_clear(&got);

    assert_int_equal(kh_store_apikey_revoke(f->s, k.id, U2, 9), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_apikey_revoke(f->s, k.id, U1, 9), KH_OK);
    assert_int_equal(kh_store_apikey_revoke(f->s, k.id, NULL, 10), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_store_identity_user(f->s, "apikey:00112233aabbccdd", &got),
                     KH_ERR_NOT_FOUND);
    kh_apikey_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_store_apikey_list(f->s, U1, &rows, &n), KH_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].revoked_at, 9);
    kh_apikey_rows_free(rows, n);
}

/* ---- ops ------------------------------------------------------------------ */

static void ctx_of(fixture *f, kh_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->principal = "administration-token";
    ctx->now = 1700000000;
    ctx->svc = &f->svc;
}

static void test_who_resolve(void **state)
{
    fixture *f = *state;
    kh_ctx ctx;
    kh_user_row u = {0};
    kh_who who;
    ctx_of(f, &ctx);
    char hex[65];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    char tls[80];
    snprintf(tls, sizeof(tls), "tls:%s", hex);
    /* unregistered: a certificate keeps its hex principal */
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_string_equal(who.principal, hex);
    assert_string_equal(who.user_id, "");
    assert_int_equal(kh_who_resolve(f->s, "jwt:https://i#s", &who), KH_OK);
    assert_string_equal(who.principal, "jwt:https://i#s");
    assert_int_equal(kh_who_resolve(f->s, "apikey:00", &who), KH_ERR_AUTH);
    assert_int_equal(kh_who_resolve(f->s, "", &who), KH_ERR_AUTH);

    assert_int_equal(kh_op_user_create(&ctx, NULL, "Ann", NULL, "ADMIN", &u), KH_OK);
    assert_string_equal(u.organization, "default");
    assert_string_equal(u.actor, "administration-token");
    assert_int_equal(kh_op_identity_add(&ctx, u.id, tls), KH_OK);
    assert_int_equal(kh_op_identity_add(&ctx, u.id, "jwt:https://i#s"), KH_OK);
    assert_int_equal(kh_op_identity_add(&ctx, u.id, "apikey:0011"), KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_op_identity_add(&ctx, u.id, "tls:AB"), KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_string_equal(who.principal, u.id);
    assert_string_equal(who.identity, tls);
    assert_true(kh_who_is_admin(&who));
    assert_int_equal(kh_who_resolve(f->s, "jwt:https://i#s", &who), KH_OK);
    assert_string_equal(who.principal, u.id); /* one user, every authenticator */

    kh_user_row after = {0};
    assert_int_equal(kh_op_user_update(&ctx, u.id, NULL, NULL, "STANDARD", &after), KH_OK);
    kh_user_row_clear(&after);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_false(kh_who_is_admin(&who));
    assert_int_equal(kh_op_user_update(&ctx, u.id, NULL, NULL, "ROOT", &after),
                     KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_op_user_revoke(&ctx, u.id, &after), KH_OK);
    assert_true(after.revoked_at != 0);
    kh_user_row_clear(&after);
    assert_int_equal(kh_op_user_revoke(&ctx, u.id, &after), KH_ERR_WRONG_STATE);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_ERR_AUTH);
    assert_int_equal(kh_who_resolve(f->s, "jwt:https://i#s", &who), KH_ERR_AUTH);
    kh_user_row_clear(&u);
}

static void test_apikey_verify(void **state)
{
    fixture *f = *state;
    kh_ctx ctx;
    kh_user_row u = {0};
    kh_apikey_row k = {0};
    char *token = NULL, identity[KH_WHO_MAX];
    ctx_of(f, &ctx);
    assert_int_equal(kh_op_user_create(&ctx, NULL, "Bob", "b@x", NULL, &u), KH_OK);
    assert_int_equal(kh_op_apikey_create(&ctx, u.id, "ci", &k, &token), KH_OK);
    assert_true(kh_apikey_shaped(token));
    assert_int_equal(strlen(token), 4 + 16 + 1 + 64);
    assert_int_equal(kh_apikey_verify(f->s, token, identity), KH_OK);
    char want[64];
    snprintf(want, sizeof(want), "apikey:%s", k.id);
    assert_string_equal(identity, want);
    /* the store holds the hash, never the secret */
    assert_null(strstr(k.secret_sha256, strchr(token, '.') + 1));

    char *wrong = kh_xstrdup(token);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == '0' ? '1' : '0';
    assert_int_equal(kh_apikey_verify(f->s, wrong, identity), KH_ERR_AUTH);
    wrong[strlen(wrong) - 1] = '\0';
    assert_int_equal(kh_apikey_verify(f->s, wrong, identity), KH_ERR_AUTH);
    assert_int_equal(kh_apikey_verify(f->s, "khk_", identity), KH_ERR_AUTH);
    assert_int_equal(kh_apikey_verify(f->s, "eyJ.a.b", identity), KH_ERR_AUTH);
    free(wrong);

    assert_int_equal(kh_op_apikey_revoke(&ctx, k.id, NULL), KH_OK);
    assert_int_equal(kh_apikey_verify(f->s, token, identity), KH_ERR_AUTH);
    assert_int_equal(kh_op_apikey_revoke(&ctx, k.id, NULL), KH_ERR_NOT_FOUND);
    kh_wipe_free(token, strlen(token));
    kh_apikey_row_clear(&k);

    kh_user_row gone = {0};
    assert_int_equal(kh_op_user_revoke(&ctx, u.id, &gone), KH_OK);
    assert_int_equal(kh_op_apikey_create(&ctx, u.id, "late", &k, &token), KH_ERR_WRONG_STATE);
    kh_user_row_clear(&gone);
    kh_user_row_clear(&u);
}

/* Updates racing a revocation: whatever interleaving, the revocation is
 * never undone (each change is appended only on the state it read). */
struct racer {
    fixture *f;
    const char *id;
    int revoke;
    int unexpected; /* errors other than KH_OK / KH_ERR_CONFLICT (checked by the main thread) */
};

static void *race(void *arg)
{
    struct racer *r = arg;
    kh_ctx ctx;
    ctx_of(r->f, &ctx);
    /* Updaters stop once the user is revoked; the revoker retries when it
     * loses the race more often than kh_op_user_revoke does itself. */
    for (int i = 0; i < 1000; i++) {
        kh_user_row out = {0};
        kh_err err = r->revoke ? kh_op_user_revoke(&ctx, r->id, &out)
                               : kh_op_user_update(&ctx, r->id, NULL, NULL,
                                                   i % 2 ? "ADMIN" : "STANDARD", &out);
        kh_user_row_clear(&out);
        if (err == KH_ERR_WRONG_STATE || (r->revoke && err == KH_OK) || (!r->revoke && i >= 10))
            break;
        r->unexpected += err != KH_OK && err != KH_ERR_CONFLICT;
    }
    return NULL;
}

static void test_update_cannot_undo_revocation(void **state)
{
    fixture *f = *state;
    kh_ctx ctx;
    kh_user_row u = {0};
    ctx_of(f, &ctx);
    assert_int_equal(kh_op_user_create(&ctx, NULL, "Racer", NULL, NULL, &u), KH_OK);
    pthread_t t[4];
    struct racer r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct racer){f, u.id, i == 2, 0};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].unexpected, 0);
    }
    kh_user_row *rows = NULL;
    size_t n = 0, revokes = 0;
    assert_int_equal(kh_store_user_history(f->s, u.id, &rows, &n), KH_OK);
    for (size_t i = 0; i < n; i++)
        revokes += strcmp(rows[i].change, "revoke") == 0;
    assert_int_equal(revokes, 1);
    assert_string_equal(rows[n - 1].change, "revoke");
    assert_true(rows[n - 1].revoked_at != 0);
    kh_user_rows_free(rows, n);
    kh_user_row now = {0};
    assert_int_equal(kh_store_user_get(f->s, u.id, &now), KH_OK);
    assert_int_equal(now.revision, (int64_t)n);
    kh_user_row_clear(&now);
    kh_user_row_clear(&u);
}

/* ---- HTTPS authentication (proto/authn.c) ----------------------------------- */

static void test_authn_http(void **state)
{
    fixture *f = *state;
    kh_authn *a = NULL;
    kh_ctx ctx;
    kh_user_row u = {0};
    kh_apikey_row k = {0};
    char *token = NULL, id[KH_IDENTITY_MAX];
    kh_who who;
    ctx_of(f, &ctx);
    assert_int_equal(kh_authn_new(f->s, &a), KH_OK);
    assert_int_equal(kh_authn_set_admin_token(a, "short"), KH_ERR_CONFIG);
    assert_int_equal(kh_authn_set_admin_token(a, "0123456789abcdef-token"), KH_OK);
    assert_int_equal(kh_authn_set_trusted_proxies(a, "127.0.0.1"), KH_OK);
    f->svc.authn = a;
    kh_http_request *req = kh_xcalloc(1, sizeof(*req));
    snprintf(req->peer.addr, sizeof(req->peer.addr), "127.0.0.1:999");

    /* nothing: single-user mode */
    assert_int_equal(kh_authn_http(a, req, id), KH_OK);
    assert_string_equal(id, "");
    assert_int_equal(kh_authn_who(&f->svc, req, &who), KH_OK);
    assert_string_equal(who.principal, "admin");
    /* a certificate */
    memset(req->peer.principal, 'b', 64);
    assert_int_equal(kh_authn_http(a, req, id), KH_OK);
    assert_int_equal(strncmp(id, "tls:bbbb", 8), 0);
    assert_int_equal(kh_authn_who(&f->svc, req, &who), KH_OK);
    assert_int_equal(strncmp(who.principal, "bbbb", 4), 0);
    /* an API key wins over the certificate and maps to its user */
    assert_int_equal(kh_op_user_create(&ctx, NULL, "Key", NULL, NULL, &u), KH_OK);
    assert_int_equal(kh_op_apikey_create(&ctx, u.id, "k", &k, &token), KH_OK);
    snprintf(req->authorization, sizeof(req->authorization), "Bearer %s", token);
    assert_int_equal(kh_authn_who(&f->svc, req, &who), KH_OK);
    assert_string_equal(who.principal, u.id);
    assert_int_equal(strncmp(who.identity, "apikey:", 7), 0);
    assert_false(kh_authn_is_admin_token(a, req));
    assert_int_equal(kh_authn_http(NULL, req, id), KH_ERR_AUTH); /* no store to check it */
    /* what cannot be checked is refused, not ignored */
    const char *bad[] = {"Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer a.b.c", "Bearer khk_00.11",
                         "Bearer 0123456789abcdef-token"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(req->authorization, sizeof(req->authorization), "%s", bad[i]);
        assert_int_equal(kh_authn_who(&f->svc, req, &who), KH_ERR_AUTH);
    }
    /* the administration token, exactly */
    assert_true(kh_authn_is_admin_token(a, req));
    snprintf(req->authorization, sizeof(req->authorization), "bearer  0123456789abcdef-token");
    assert_true(kh_authn_is_admin_token(a, req));
    snprintf(req->authorization, sizeof(req->authorization), "Bearer 0123456789abcdef-toke");
    assert_false(kh_authn_is_admin_token(a, req));
    snprintf(req->authorization, sizeof(req->authorization), "Bearer 0123456789abcdef-tokenX");
    assert_false(kh_authn_is_admin_token(a, req));
    assert_false(kh_authn_is_admin_token(NULL, req));
    /* forwarded headers, from the trusted peer and from another */
    char addr[64];
    snprintf(req->forwarded_for, sizeof(req->forwarded_for), "198.51.100.1");
    snprintf(req->forwarded_proto, sizeof(req->forwarded_proto), "http");
    kh_authn_client_addr(a, req, addr, sizeof(addr));
    assert_string_equal(addr, "198.51.100.1");
    assert_string_equal(kh_authn_client_proto(a, req), "http");
    snprintf(req->peer.addr, sizeof(req->peer.addr), "127.0.0.2:999");
    kh_authn_client_addr(a, req, addr, sizeof(addr));
    assert_string_equal(addr, "127.0.0.2:999");
    assert_string_equal(kh_authn_client_proto(a, req), "https");

    kh_wipe_free(token, strlen(token));
    kh_apikey_row_clear(&k);
    kh_user_row_clear(&u);
    free(req);
    kh_authn_free(&a);
    assert_null(a);
    f->svc.authn = NULL;
}

/* ---- proxies (no store) ----------------------------------------------------- */

static void test_proxy_list(void **state)
{
    (void)state;
    kh_proxy_list *l = NULL;
    char out[64];
    assert_int_equal(kh_proxy_list_parse("10.0.0.0/8, 127.0.0.1 ,::1,fd00::/8", &l), KH_OK);
    assert_true(kh_proxy_trusted(l, "10.1.2.3:443"));
    assert_true(kh_proxy_trusted(l, "127.0.0.1:5"));
    assert_false(kh_proxy_trusted(l, "127.0.0.2:5"));
    assert_true(kh_proxy_trusted(l, "[::1]:8080"));
    assert_true(kh_proxy_trusted(l, "[fd12::5]:1"));
    assert_false(kh_proxy_trusted(l, "[fe80::1]:1"));
    assert_false(kh_proxy_trusted(l, "11.0.0.1:1"));
    kh_proxy_client_addr(l, "10.0.0.1:4000", "203.0.113.5, 10.9.9.9", out, sizeof(out));
    assert_string_equal(out, "203.0.113.5");
    kh_proxy_client_addr(l, "10.0.0.1:4000", "1.1.1.1, 203.0.113.5", out, sizeof(out));
    assert_string_equal(out, "203.0.113.5"); /* left of the client is the client's word */
    kh_proxy_client_addr(l, "192.0.2.1:4000", "203.0.113.5", out, sizeof(out));
    assert_string_equal(out, "192.0.2.1:4000"); /* untrusted peer */
    kh_proxy_client_addr(l, "10.0.0.1:4000", "", out, sizeof(out));
    assert_string_equal(out, "10.0.0.1:4000");
    kh_proxy_client_addr(l, "10.0.0.1:4000", "bogus", out, sizeof(out));
    assert_string_equal(out, "10.0.0.1:4000");
    kh_proxy_client_addr(l, "10.0.0.1:4000", "1.2.3.4,,10.0.0.9", out, sizeof(out));
    assert_string_equal(out, "10.0.0.1:4000");
    kh_proxy_client_addr(l, "10.0.0.1:4000", "[2001:db8::7]:99", out, sizeof(out));
    assert_string_equal(out, "2001:db8::7");
    kh_proxy_client_addr(NULL, "10.0.0.1:4000", "203.0.113.5", out, sizeof(out));
    assert_string_equal(out, "10.0.0.1:4000");
    kh_proxy_list_free(&l);
    assert_null(l);
    const char *bad[] = {"", " , ", "10.0.0.0/33", "::1/129", "example.com", "1.2.3.4/", "1.2.3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kh_proxy_list_parse(bad[i], &l), KH_ERR_CONFIG);
}

static void test_validation(void **state)
{
    (void)state;
    assert_true(kh_profile_valid("ADMIN") && kh_profile_valid("OUTSIDER"));
    assert_false(kh_profile_valid("admin") || kh_profile_valid(NULL));
    assert_true(kh_org_id_valid("acme-1.eu_x"));
    assert_false(kh_org_id_valid("") || kh_org_id_valid("a b") || kh_org_id_valid("a/b"));
    assert_false(kh_identity_valid("jwt:#sub") || kh_identity_valid("jwt:iss#"));
    assert_true(kh_identity_valid("jwt:iss#sub"));
    assert_false(kh_apikey_shaped("a.b.c") || kh_apikey_shaped(NULL));
}

#define BACKEND_TESTS(setup)                                                                       \
    cmocka_unit_test_setup_teardown(test_organizations, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_users_and_history, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_identities, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_apikeys, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(test_who_resolve, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_apikey_verify, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_update_cannot_undo_revocation, setup, teardown),      \
        cmocka_unit_test_setup_teardown(test_authn_http, setup, teardown)

int main(void)
{
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    if (kh_crypto_init(0) != KH_OK)
        return 1;
    const struct CMUnitTest sqlite_tests[] = {
        BACKEND_TESTS(setup_sqlite),
        cmocka_unit_test(test_proxy_list),
        cmocka_unit_test(test_validation),
    };
    const struct CMUnitTest pg_tests[] = {BACKEND_TESTS(setup_pg)};
    return KH_TEST_DB_RUN("users", sqlite_tests, pg_tests);
}
