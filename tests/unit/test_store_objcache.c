/*
 * test_store_objcache.c - the object cache (kh_store_set_object_cache,
 * src/store/store.c on src/store/gencache.c), on SQLite and, when
 * KH_TEST_PG_URL is set, PostgreSQL.
 *
 * What it must hold: a load served from memory is the row the database
 * holds, as a copy the caller may change; an update through this store
 * applies to the very next load, committed or not; what changes behind
 * its back (another node, a CLI, an SQL session) shows within the TTL.
 * Changes "behind its back" are raw SQL (raw_exec) or a second store
 * handle on the same database; that they are *not* seen at once with a
 * long TTL is what shows a load came from the cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/mem.h"
#include "store/gencache.h"
#include "store/store.h"
#include "store_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LONG_TTL_MS 600000 /* longer than any test: only invalidation refreshes */
#define SHORT_TTL_MS 50
#define POLL_LIMIT_S 20 /* "eventually": a bound, not a timing assertion */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void insert_full(fixture *f, const char *uid, size_t attrs_len)
{
    kh_obj_row r = make_row(f, uid, "alice", 2, 1700000000);
    uint8_t *attrs = kh_xmalloc(attrs_len);
    uint8_t material[48];
    memset(attrs, 'a', attrs_len);
    memset(material, 'm', sizeof(material));
    char *names[] = {"first", "second"};
    r.attrs = attrs;
    r.attrs_len = attrs_len;
    r.material = material;
    r.material_len = sizeof(material);
    r.material_key_version = 3;
    r.names = names;
    r.n_names = 2;
    assert_int_equal(kh_store_object_insert(f->s, &r), KH_OK);
    free(attrs);
}

static int32_t state_of(kh_store *s, const char *uid, int64_t *revision)
{
    kh_obj_row *r = NULL;
    assert_int_equal(kh_store_object_get(s, uid, &r), KH_OK);
    int32_t state = r->state;
    if (revision)
        *revision = r->revision;
    kh_obj_row_free(&r);
    return state;
}

static void set_state_behind(fixture *f, const char *uid, int state)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE object SET state = %d WHERE uid = '%s'", state, uid);
    raw_exec(f, sql);
}

static void assert_rows_equal(const kh_obj_row *a, const kh_obj_row *b)
{
    assert_string_equal(a->uid, b->uid);
    assert_string_equal(a->owner, b->owner);
    assert_int_equal(a->realm_id, b->realm_id);
    assert_int_equal(a->object_type, b->object_type);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->revision, b->revision);
    assert_int_equal(a->material_key_version, b->material_key_version);
    assert_int_equal(a->attrs_len, b->attrs_len);
    assert_memory_equal(a->attrs, b->attrs, a->attrs_len);
    assert_int_equal(a->material_len, b->material_len);
    assert_memory_equal(a->material, b->material, a->material_len);
    assert_int_equal(a->n_names, b->n_names);
    for (size_t i = 0; i < a->n_names; i++)
        assert_string_equal(a->names[i], b->names[i]);
}

/* A second load is the same row, from memory, and a copy of its own. */
static void test_hit_is_a_copy(void **state)
{
    fixture *f = *state;
    kh_obj_row *first = NULL, *second = NULL, *third = NULL;
    assert_int_equal(kh_store_set_object_cache(f->s, LONG_TTL_MS), KH_OK);
    insert_full(f, "k1", 300);
    assert_int_equal(kh_store_object_get(f->s, "k1", &first), KH_OK);
    set_state_behind(f, "k1", 4);
    assert_int_equal(kh_store_object_get(f->s, "k1", &second), KH_OK);
    assert_int_equal(second->state, 1); /* served from memory, not the database */
    assert_rows_equal(first, second);
    assert_ptr_not_equal(first->attrs, second->attrs);
    second->material[0] ^= 0xff; /* the caller's copy: the cache keeps its own */
    free(second->names[0]);
    second->names[0] = kh_xstrdup("changed");
    assert_int_equal(kh_store_object_get(f->s, "k1", &third), KH_OK);
    assert_rows_equal(first, third);
    kh_obj_row_free(&first);
    kh_obj_row_free(&second);
    kh_obj_row_free(&third);
    /* off again: every load reads the database */
    assert_int_equal(kh_store_set_object_cache(f->s, 0), KH_OK);
    assert_int_equal(state_of(f->s, "k1", NULL), 4);
}

/* An update through this store applies to the very next load. */
static void test_own_update_applies_at_once(void **state)
{
    fixture *f = *state;
    int64_t rev = 0;
    assert_int_equal(kh_store_set_object_cache(f->s, LONG_TTL_MS), KH_OK);
    insert_full(f, "k2", 100);
    insert_full(f, "k3", 100);
    assert_int_equal(state_of(f->s, "k2", &rev), 1);
    assert_int_equal(state_of(f->s, "k3", NULL), 1);
    kh_obj_row *r = NULL;
    assert_int_equal(kh_store_object_get(f->s, "k2", &r), KH_OK);
    r->state = 2;
    assert_int_equal(kh_store_object_update(f->s, r), KH_OK);
    assert_int_equal(state_of(f->s, "k2", &rev), 2);
    assert_int_equal(rev, r->revision + 1);
    kh_obj_row_free(&r);

    /* the same with the audited update, the one operations use */
    assert_int_equal(kh_store_object_get(f->s, "k3", &r), KH_OK);
    r->state = 3;
    kh_audit_row a = audit_op_row("Revoke", "k3", "KH_OK");
    assert_int_equal(kh_store_object_update_audited(f->s, r, &a), KH_OK);
    assert_int_equal(state_of(f->s, "k3", NULL), 3);
    kh_obj_row_free(&r);
}

/* A change made behind this store's back is seen within the TTL; with a
 * long TTL it is not (the load comes from memory) until this store itself
 * updates something, which invalidates everything. */
static void test_other_node(void **state)
{
    fixture *f = *state;
    kh_store *other = NULL;
    assert_int_equal(kh_store_open(f->url, &other), KH_OK);
    assert_int_equal(kh_store_set_object_cache(f->s, SHORT_TTL_MS), KH_OK);
    insert_full(f, "k4", 100);
    assert_int_equal(state_of(f->s, "k4", NULL), 1);
    kh_obj_row *r = NULL;
    assert_int_equal(kh_store_object_get(other, "k4", &r), KH_OK);
    r->state = 5;
    assert_int_equal(kh_store_object_update(other, r), KH_OK);
    kh_obj_row_free(&r);
    double end = now_s() + POLL_LIMIT_S;
    while (state_of(f->s, "k4", NULL) != 5 && now_s() < end)
        ;
    assert_int_equal(state_of(f->s, "k4", NULL), 5);

    /* a conflict (this store's row is stale) refreshes it too */
    assert_int_equal(kh_store_set_object_cache(f->s, LONG_TTL_MS), KH_OK);
    int64_t rev = 0;
    assert_int_equal(state_of(f->s, "k4", &rev), 5);
    assert_int_equal(kh_store_object_get(other, "k4", &r), KH_OK);
    r->state = 6;
    assert_int_equal(kh_store_object_update(other, r), KH_OK);
    kh_obj_row_free(&r);
    assert_int_equal(kh_store_object_get(f->s, "k4", &r), KH_OK);
    assert_int_equal(r->state, 5); /* stale, from memory */
    assert_int_equal(r->revision, rev);
    r->state = 7;
    assert_int_equal(kh_store_object_update(f->s, r), KH_ERR_CONFLICT);
    kh_obj_row_free(&r);
    assert_int_equal(state_of(f->s, "k4", NULL), 6);
    kh_store_close(&other);
}

/* What is not cached: absence, and rows too big for it. */
static void test_not_cached(void **state)
{
    fixture *f = *state;
    kh_obj_row *r = NULL;
    assert_int_equal(kh_store_set_object_cache(f->s, LONG_TTL_MS), KH_OK);
    assert_int_equal(kh_store_object_get(f->s, "later", &r), KH_ERR_NOT_FOUND);
    insert_full(f, "later", 10);
    assert_int_equal(state_of(f->s, "later", NULL), 1);
    insert_full(f, "big", 9000);
    assert_int_equal(state_of(f->s, "big", NULL), 1);
    set_state_behind(f, "big", 4);
    assert_int_equal(state_of(f->s, "big", NULL), 4);
}

/* More objects than the cache has slots: every load is still right. */
static void test_many_objects(void **state)
{
    fixture *f = *state;
    char uid[32];
    assert_int_equal(kh_store_set_object_cache(f->s, LONG_TTL_MS), KH_OK);
    for (int i = 0; i < 5000; i++) {
        snprintf(uid, sizeof(uid), "many-%d", i);
        insert_simple(f, uid, i % 2 ? "alice" : "bob", 2, i);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 5000; i += 7) {
            kh_obj_row *r = NULL;
            snprintf(uid, sizeof(uid), "many-%d", i);
            assert_int_equal(kh_store_object_get(f->s, uid, &r), KH_OK);
            assert_string_equal(r->uid, uid);
            assert_string_equal(r->owner, i % 2 ? "alice" : "bob");
            assert_int_equal(r->created_at, i);
            kh_obj_row_free(&r);
        }
}

static void int_copy_out(const void *value, void *out)
{
    *(int *)out = *(const int *)value;
}

static int *int_new(int v)
{
    int *p = kh_xmalloc(sizeof(*p));
    *p = v;
    return p;
}

/* A load that started before an update must not store what it read as
 * current: the bump lands between the mark and the put here. */
static void test_update_during_load(void **state)
{
    (void)state;
    static const kh_gencache_type type = {int_copy_out, free};
    static const kh_gencache_type no_copy = {NULL, free};
    kh_gencache *c = NULL;
    int got = 0;
    assert_int_equal(kh_gencache_new(&no_copy, LONG_TTL_MS, &c), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_gencache_new(&type, 0, &c), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_gencache_new(&type, LONG_TTL_MS, &c), KH_OK);
    kh_gencache_mark m = kh_gencache_mark_now(c);
    kh_gencache_bump(c);
    kh_gencache_put_take(c, "x", m, int_new(1));
    assert_false(kh_gencache_get(c, "x", &got));
    m = kh_gencache_mark_now(c);
    kh_gencache_put_take(c, "x", m, int_new(2));
    kh_gencache_put_take(c, "x", m, int_new(3)); /* replaces its own slot */
    assert_true(kh_gencache_get(c, "x", &got));
    assert_int_equal(got, 3);
    assert_false(kh_gencache_get(c, "y", &got));
    kh_gencache_bump(c); /* a put stamped before it is never served again */
    assert_false(kh_gencache_get(c, "x", &got));
    kh_gencache_free(&c); /* frees the values it still holds (ASan checks) */
    assert_null(c);
}

/* A generation kept by the caller (as kes_keycache.c's, which counts
 * object updates), and dropping one key. */
static void test_shared_generation_and_drop(void **state)
{
    (void)state;
    static const kh_gencache_type type = {int_copy_out, free};
    static _Atomic uint64_t writes = 7;
    kh_gencache *c = NULL;
    int got = 0;
    assert_int_equal(kh_gencache_new_shared(&type, LONG_TTL_MS, &writes, &c), KH_OK);
    kh_gencache_mark m = kh_gencache_mark_now(c);
    kh_gencache_put_take(c, "x", m, int_new(1));
    kh_gencache_put_take(c, "y", m, int_new(2));
    assert_true(kh_gencache_get(c, "x", &got));
    kh_gencache_drop(c, "x");
    kh_gencache_drop(c, "absent");
    assert_false(kh_gencache_get(c, "x", &got));
    assert_true(kh_gencache_get(c, "y", &got));
    assert_int_equal(got, 2);
    writes++; /* the owner's event: every entry is dead */
    assert_false(kh_gencache_get(c, "y", &got));
    m = kh_gencache_mark_now(c);
    kh_gencache_put_take(c, "y", m, int_new(3));
    kh_gencache_bump(c); /* bumps the shared counter */
    assert_int_equal(writes, 9);
    assert_false(kh_gencache_get(c, "y", &got));
    kh_gencache_free(&c);
}

#define CACHE_TESTS(setup)                                                                         \
    cmocka_unit_test_setup_teardown(test_hit_is_a_copy, setup, teardown),                          \
        cmocka_unit_test_setup_teardown(test_own_update_applies_at_once, setup, teardown),         \
        cmocka_unit_test_setup_teardown(test_other_node, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_not_cached, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_many_objects, setup, teardown)

int main(void)
{
    store_harness_init();
    const struct CMUnitTest sqlite_tests[] = {
        CACHE_TESTS(setup_sqlite),
        cmocka_unit_test(test_update_during_load),
        cmocka_unit_test(test_shared_generation_and_drop),
    };
    const struct CMUnitTest pg_tests[] = {CACHE_TESTS(setup_pg)};
    return store_harness_run(sqlite_tests, sizeof(sqlite_tests) / sizeof(sqlite_tests[0]), pg_tests,
                             sizeof(pg_tests) / sizeof(pg_tests[0]));
}
