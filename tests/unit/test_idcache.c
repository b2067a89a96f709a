/*
 * test_idcache.c - unit tests for the identity cache (src/store/idcache.c)
 * as kh_who_resolve (src/ops/users.c) sees it, on SQLite and, when
 * KH_TEST_PG_URL is set, PostgreSQL.
 *
 * "This node" is one store handle with the cache on; "another node" is a
 * second handle opened on the same database, whose writes this node's
 * cache cannot hear of. A change made through this node must be seen by
 * the very next lookup; one made through the other node within the TTL.
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
#include "store/idcache.h"
#include "store/store.h"
#include "test_db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LONG_TTL_MS 600000 /* longer than any test: only invalidation refreshes */
#define POLL_LIMIT_S 20    /* "eventually": a bound, not a timing assertion */

typedef struct fixture {
    kh_test_db db;
    kh_store *s;     /* this node */
    kh_store *other; /* another node on the same database */
    kh_service svc, other_svc;
} fixture;

static int setup(void **state, const char *pg)
{
    fixture *f = kh_xcalloc(1, sizeof(*f));
    *state = f;
    if (kh_test_db_open(&f->db, pg, "idcache") != 0 || kh_store_open(f->db.url, &f->s) != KH_OK ||
        kh_store_migrate(f->s, NULL) != KH_OK || kh_store_open(f->db.url, &f->other) != KH_OK)
        return -1;
    f->svc.store = f->s;
    f->svc.server_name = "test";
    f->other_svc.store = f->other;
    f->other_svc.server_name = "test";
    return 0;
}

KH_TEST_DB_SETUPS(setup)

static int teardown(void **state)
{
    fixture *f = *state;
    kh_store_close(&f->other);
    kh_store_close(&f->s);
    kh_test_db_close(&f->db);
    free(f);
    return 0;
}

static void ctx_of(kh_service *svc, kh_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->principal = "administration-token";
    ctx->now = 1700000000;
    ctx->svc = svc;
}

/* "tls:" and 64 hex digits made of c. */
static void tls_of(char c, char out[80], char hex[65])
{
    memset(hex, c, 64);
    hex[64] = '\0';
    snprintf(out, 80, "tls:%s", hex);
}

static char *new_user(kh_service *svc, const char *label, const char *profile)
{
    kh_ctx ctx;
    kh_user_row u = {0};
    ctx_of(svc, &ctx);
    assert_int_equal(kh_op_user_create(&ctx, NULL, label, NULL, profile, &u), KH_OK);
    char *id = kh_xstrdup(u.id);
    kh_user_row_clear(&u);
    return id;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Resolve identity on s until it gives want, for at most POLL_LIMIT_S. */
static kh_err resolve_until(kh_store *s, const char *identity, kh_err want)
{
    kh_who who;
    double end = now_s() + POLL_LIMIT_S;
    kh_err err;
    while ((err = kh_who_resolve(s, identity, &who)) != want && now_s() < end) {
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return err;
}

/* ---- changes through this node: seen by the very next request ----------- */

static void test_own_changes_apply_at_once(void **state)
{
    fixture *f = *state;
    kh_ctx ctx;
    kh_who who;
    kh_user_row after = {0};
    char tls[80], hex[65];
    tls_of('c', tls, hex);
    ctx_of(&f->svc, &ctx);
    assert_int_equal(kh_store_set_identity_cache(f->s, LONG_TTL_MS), KH_OK);

    /* unregistered (cached as such): the certificate's hex principal */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
        assert_string_equal(who.principal, hex);
        assert_string_equal(who.user_id, "");
    }
    char *id = new_user(&f->svc, "Cat", "ADMIN");
    assert_int_equal(kh_op_identity_add(&ctx, id, tls), KH_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
        assert_string_equal(who.principal, id);
        assert_string_equal(who.identity, tls);
        assert_true(kh_who_is_admin(&who));
    }
    /* a profile change */
    assert_int_equal(kh_op_user_update(&ctx, id, NULL, NULL, "STANDARD", &after), KH_OK);
    kh_user_row_clear(&after);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_string_equal(who.profile, "STANDARD");
    assert_false(kh_who_is_admin(&who));
    /* the identity removed: unregistered again */
    assert_int_equal(kh_op_identity_remove(&ctx, id, tls), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_string_equal(who.principal, hex);
    assert_string_equal(who.user_id, "");
    /* back, then the user revoked: refused on the next request */
    assert_int_equal(kh_op_identity_add(&ctx, id, tls), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_string_equal(who.user_id, id);
    assert_int_equal(kh_op_user_revoke(&ctx, id, &after), KH_OK);
    kh_user_row_clear(&after);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_ERR_AUTH);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_ERR_AUTH); /* cached refusal */
    free(id);
}

static void test_apikeys_through_the_cache(void **state)
{
    fixture *f = *state;
    kh_ctx ctx;
    kh_who who;
    kh_apikey_row k = {0};
    char *token = NULL, identity[KH_WHO_MAX];
    ctx_of(&f->svc, &ctx);
    assert_int_equal(kh_store_set_identity_cache(f->s, LONG_TTL_MS), KH_OK);
    char *id = new_user(&f->svc, "Dan", NULL);
    assert_int_equal(kh_op_apikey_create(&ctx, id, "ci", &k, &token), KH_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kh_apikey_verify(f->s, token, identity), KH_OK);
        assert_int_equal(kh_who_resolve(f->s, identity, &who), KH_OK);
        assert_string_equal(who.user_id, id);
    }
    /* the identity is cached, the secret is still checked on every request */
    char *wrong = kh_xstrdup(token);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == '0' ? '1' : '0';
    assert_int_equal(kh_apikey_verify(f->s, wrong, identity), KH_ERR_AUTH);
    kh_wipe_free(wrong, strlen(wrong));
    /* revoked through this node: both steps refuse at once */
    snprintf(identity, sizeof(identity), "apikey:%s", k.id);
    assert_int_equal(kh_op_apikey_revoke(&ctx, k.id, NULL), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, identity, &who), KH_ERR_AUTH);
    assert_int_equal(kh_apikey_verify(f->s, token, identity), KH_ERR_AUTH);
    kh_wipe_free(token, strlen(token));
    kh_apikey_row_clear(&k);

    /* a key revoked through another node: the secret check, never cached,
     * refuses at once, whatever this node's cache holds */
    assert_int_equal(kh_op_apikey_create(&ctx, id, "ci2", &k, &token), KH_OK);
    assert_int_equal(kh_apikey_verify(f->s, token, identity), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, identity, &who), KH_OK);
    kh_ctx other;
    ctx_of(&f->other_svc, &other);
    assert_int_equal(kh_op_apikey_revoke(&other, k.id, NULL), KH_OK);
    assert_int_equal(kh_apikey_verify(f->s, token, identity), KH_ERR_AUTH);
    kh_wipe_free(token, strlen(token));
    kh_apikey_row_clear(&k);
    free(id);
}

/* ---- changes through another node: seen within the TTL ----------------- */

static void test_other_node_within_ttl(void **state)
{
    fixture *f = *state;
    kh_ctx other;
    kh_who who;
    kh_user_row after = {0};
    char tls[80], hex[65];
    tls_of('d', tls, hex);
    ctx_of(&f->other_svc, &other);
    char *id = new_user(&f->other_svc, "Eve", "ADMIN");
    assert_int_equal(kh_op_identity_add(&other, id, tls), KH_OK);

    /* a long TTL: this node keeps serving what it read (the cache works) */
    assert_int_equal(kh_store_set_identity_cache(f->s, LONG_TTL_MS), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_true(kh_who_is_admin(&who));
    assert_int_equal(kh_op_user_update(&other, id, NULL, NULL, "STANDARD", &after), KH_OK);
    kh_user_row_clear(&after);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_true(kh_who_is_admin(&who));

    /* a short TTL: the other node's revocation is refused here soon */
    assert_int_equal(kh_store_set_identity_cache(f->s, 100), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_false(kh_who_is_admin(&who));
    assert_int_equal(kh_op_user_revoke(&other, id, &after), KH_OK);
    kh_user_row_clear(&after);
    assert_int_equal(resolve_until(f->s, tls, KH_ERR_AUTH), KH_ERR_AUTH);

    /* no cache (TTL 0): refused at once */
    char tls2[80], hex2[65];
    tls_of('e', tls2, hex2);
    char *id2 = new_user(&f->other_svc, "Fay", NULL);
    assert_int_equal(kh_op_identity_add(&other, id2, tls2), KH_OK);
    assert_int_equal(kh_store_set_identity_cache(f->s, 0), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, tls2, &who), KH_OK);
    assert_int_equal(kh_op_user_revoke(&other, id2, &after), KH_OK);
    kh_user_row_clear(&after);
    assert_int_equal(kh_who_resolve(f->s, tls2, &who), KH_ERR_AUTH);
    free(id2);
    free(id);
}

/* An identity registered through another node while this node holds it
 * as unregistered becomes the user's within the TTL. */
static void test_other_node_registration(void **state)
{
    fixture *f = *state;
    kh_ctx other;
    kh_who who;
    char tls[80], hex[65];
    tls_of('f', tls, hex);
    ctx_of(&f->other_svc, &other);
    assert_int_equal(kh_store_set_identity_cache(f->s, 100), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    assert_string_equal(who.principal, hex);
    char *id = new_user(&f->other_svc, "Gus", NULL);
    assert_int_equal(kh_op_identity_add(&other, id, tls), KH_OK);
    double end = now_s() + POLL_LIMIT_S;
    do
        assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    while (strcmp(who.user_id, id) != 0 && now_s() < end);
    assert_string_equal(who.principal, id);
    free(id);
}

/* ---- the generation: a change is never masked ---------------------------- */

/* A lookup that started before a write must not store what it read as
 * current: the write's bump lands between the mark and the put here. */
static void test_write_during_lookup(void **state)
{
    (void)state;
    kh_idcache *c = NULL;
    kh_identity_owner o = {.found = true}, got;
    snprintf(o.user_id, sizeof(o.user_id), "%s", "u-1");
    assert_int_equal(kh_idcache_new(LONG_TTL_MS, &c), KH_OK);
    kh_idcache_mark m = kh_idcache_mark_now(c);
    kh_idcache_bump(c);
    kh_idcache_put(c, "tls:x", m, &o);
    assert_false(kh_idcache_get(c, "tls:x", &got));
    m = kh_idcache_mark_now(c);
    kh_idcache_put(c, "tls:x", m, &o);
    assert_true(kh_idcache_get(c, "tls:x", &got));
    assert_string_equal(got.user_id, "u-1");
    assert_false(kh_idcache_get(c, "tls:y", &got));
    kh_idcache_bump(c); /* a put stamped before it is never served again */
    assert_false(kh_idcache_get(c, "tls:x", &got));
    assert_int_equal(kh_idcache_new(0, &c), KH_ERR_INVALID_ARG);
    kh_idcache_free(&c);
    assert_null(c);
    kh_idcache_free(&c);
}

/* More identities than slots: every answer stays right, entries are
 * replaced, and a registered identity resolves to its user throughout. */
static void test_full_cache(void **state)
{
    fixture *f = *state;
    kh_ctx ctx;
    kh_who who;
    char tls[80], hex[65], mine[80], mine_hex[65];
    ctx_of(&f->svc, &ctx);
    tls_of('9', mine, mine_hex);
    assert_int_equal(kh_store_set_identity_cache(f->s, LONG_TTL_MS), KH_OK);
    char *id = new_user(&f->svc, "Hal", NULL);
    assert_int_equal(kh_op_identity_add(&ctx, id, mine), KH_OK);
    for (int i = 0; i < 6000; i++) {
        snprintf(hex, sizeof(hex), "%064x", i);
        snprintf(tls, sizeof(tls), "tls:%s", hex);
        assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
        assert_string_equal(who.principal, hex);
        if (i % 500 == 0) {
            assert_int_equal(kh_who_resolve(f->s, mine, &who), KH_OK);
            assert_string_equal(who.user_id, id);
        }
    }
    /* too long to cache: answered all the same */
    char jwt[400];
    snprintf(jwt, sizeof(jwt), "jwt:https://issuer.example#%0300d", 7);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kh_who_resolve(f->s, jwt, &who), KH_OK);
        assert_string_equal(who.principal, jwt);
    }
    kh_user_row after = {0};
    assert_int_equal(kh_op_identity_add(&ctx, id, jwt), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, jwt, &who), KH_OK);
    assert_string_equal(who.user_id, id);
    assert_int_equal(kh_op_user_revoke(&ctx, id, &after), KH_OK);
    kh_user_row_clear(&after);
    assert_int_equal(kh_who_resolve(f->s, jwt, &who), KH_ERR_AUTH);
    assert_int_equal(kh_who_resolve(f->s, mine, &who), KH_ERR_AUTH);
    free(id);
}

/* Workers resolving while this node revokes: once the revocation has
 * returned, no lookup that starts afterwards may succeed. */
struct reader {
    kh_store *s;
    const char *identity;
    atomic_int *revoked; /* set once kh_op_user_revoke returned */
    atomic_int *stop;
    int late_ok; /* lookups that began after the revocation and succeeded */
    int lookups;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    kh_who who;
    while (!atomic_load(r->stop)) {
        int before = atomic_load(r->revoked);
        kh_err err = kh_who_resolve(r->s, r->identity, &who);
        r->late_ok += before && err == KH_OK;
        r->lookups++;
    }
    return NULL;
}

static void test_revocation_races_readers(void **state)
{
    fixture *f = *state;
    kh_ctx ctx;
    kh_who who;
    char tls[80], hex[65];
    tls_of('a', tls, hex);
    ctx_of(&f->svc, &ctx);
    assert_int_equal(kh_store_set_identity_cache(f->s, LONG_TTL_MS), KH_OK);
    char *id = new_user(&f->svc, "Ida", NULL);
    assert_int_equal(kh_op_identity_add(&ctx, id, tls), KH_OK);
    assert_int_equal(kh_who_resolve(f->s, tls, &who), KH_OK);
    atomic_int revoked = 0, stop = 0;
    pthread_t t[3];
    struct reader r[3];
    for (int i = 0; i < 3; i++) {
        r[i] = (struct reader){f->s, tls, &revoked, &stop, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
    }
    /* some churn first (profile changes), then the revocation */
    for (int i = 0; i < 5; i++) {
        kh_user_row after = {0};
        assert_int_equal(
            kh_op_user_update(&ctx, id, NULL, NULL, i % 2 ? "ADMIN" : "STANDARD", &after), KH_OK);
        kh_user_row_clear(&after);
    }
    kh_user_row after = {0};
    assert_int_equal(kh_op_user_revoke(&ctx, id, &after), KH_OK);
    kh_user_row_clear(&after);
    atomic_store(&revoked, 1);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].late_ok, 0);
        assert_true(r[i].lookups > 0);
    }
    free(id);
}

#define BACKEND_TESTS(setup)                                                                       \
    cmocka_unit_test_setup_teardown(test_own_changes_apply_at_once, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_apikeys_through_the_cache, setup, teardown),          \
        cmocka_unit_test_setup_teardown(test_other_node_within_ttl, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_other_node_registration, setup, teardown),            \
        cmocka_unit_test_setup_teardown(test_full_cache, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_revocation_races_readers, setup, teardown)

int main(void)
{
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    if (kh_crypto_init(0) != KH_OK)
        return 1;
    const struct CMUnitTest sqlite_tests[] = {
        BACKEND_TESTS(setup_sqlite),
        cmocka_unit_test(test_write_during_lookup),
    };
    const struct CMUnitTest pg_tests[] = {BACKEND_TESTS(setup_pg)};
    return KH_TEST_DB_RUN("identity cache", sqlite_tests, pg_tests);
}
