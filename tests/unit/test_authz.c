/*
 * test_authz.c - src/ops/authz.c: owners, grants, the permission each
 * operation needs, and what a caller without a grant can tell.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "ops/authz.h"
#include "proto/kmip_consts.h"

static kh_ctx ctx_for(kh_fixture *f, const char *who, uint32_t perm)
{
    kh_ctx c = {.principal = who, .now = 1700000000, .svc = &f->svc, .perm = perm};
    return c;
}

static int setup(void **state)
{
    *state = kh_fixture_new();
    return 0;
}

static int teardown(void **state)
{
    kh_fixture *f = *state;
    kh_fixture_free(&f);
    return 0;
}

static char *alice_key(kh_fixture *f, const char *name)
{
    kh_ctx c = ctx_for(f, "alice", 0);
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(
        a, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, KH_CRYPTOGRAPHIC_ALGORITHM_AES));
    kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, 256));
    kh_ttlv *n = kh_ttlv_add_take(a, kh_ttlv_new_struct(KH_TAG_NAME));
    kh_ttlv_add_take(n, kh_ttlv_new_text(KH_TAG_NAME_VALUE, name));
    kh_ttlv_add_take(n, kh_ttlv_new_enum(KH_TAG_NAME_TYPE, KH_NAME_TYPE_UNINTERPRETED_TEXT_STRING));
    char *uid = NULL;
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    kh_ttlv_free(&a);
    return uid;
}

static kh_err get_as(kh_fixture *f, const char *who, uint32_t perm, const char *uid)
{
    kh_ctx c = ctx_for(f, who, perm);
    uint32_t type = 0;
    kh_ttlv *obj = NULL;
    kh_err err = kh_op_get(&c, uid, &type, &obj);
    kh_ttlv_free(&obj);
    return err;
}

static size_t locate_as(kh_fixture *f, const char *who)
{
    kh_ctx c = ctx_for(f, who, KH_PERM_LOCATE);
    kh_locate_result r;
    assert_int_equal(kh_op_locate(&c, NULL, 0, -1, &r), KH_OK);
    size_t n = r.n;
    kh_locate_result_clear(&r);
    return n;
}

static void test_perm_names(void **state)
{
    (void)state;
    uint32_t p = 0;
    char text[256];
    assert_int_equal(kh_perm_parse("get,Encrypt,modify_attributes", &p), KH_OK);
    assert_int_equal(p, KH_PERM_GET | KH_PERM_ENCRYPT | KH_PERM_MODIFY_ATTRIBUTES);
    kh_perm_format(p, text, sizeof(text));
    assert_string_equal(text, "get,encrypt,modify_attributes");
    assert_int_equal(kh_perm_parse("all", &p), KH_OK);
    assert_int_equal(p, KH_PERM_ALL);
    p = 7;
    assert_int_equal(kh_perm_parse("get,fly", &p), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_perm_parse("", &p), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_perm_parse(",", &p), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_perm_parse("gets", &p), KH_ERR_INVALID_ARG);
    assert_int_equal(p, 7);               /* untouched on failure */
    kh_perm_format(KH_PERM_ALL, text, 8); /* truncates, stays terminated */
    assert_true(strlen(text) < 8);
}

static void test_operation_permissions(void **state)
{
    (void)state;
    assert_int_equal(kh_authz_perm_of_kmip_op(KH_OPERATION_GET), KH_PERM_GET);
    assert_int_equal(kh_authz_perm_of_kmip_op(KH_OPERATION_ENCRYPT), KH_PERM_ENCRYPT);
    assert_int_equal(kh_authz_perm_of_kmip_op(KH_OPERATION_SIGNATURE_VERIFY), KH_PERM_VERIFY);
    assert_int_equal(kh_authz_perm_of_kmip_op(KH_OPERATION_MAC_VERIFY), KH_PERM_MAC);
    assert_int_equal(kh_authz_perm_of_kmip_op(KH_OPERATION_ACTIVATE), KH_PERM_MODIFY_ATTRIBUTES);
    assert_int_equal(kh_authz_perm_of_kmip_op(KH_OPERATION_REKEY), KH_PERM_REKEY);
    assert_int_equal(kh_authz_perm_of_kmip_op(KH_OPERATION_CREATE), 0);
    assert_int_equal(kh_authz_perm_of_kmip_op(0xdead), 0);
}

static void test_owner_and_grants(void **state)
{
    kh_fixture *f = *state;
    char *uid = alice_key(f, "k");
    kh_ctx alice = ctx_for(f, "alice", 0);
    assert_int_equal(get_as(f, "alice", 0, uid), KH_OK); /* the owner needs no grant */
    assert_int_equal(get_as(f, "bob", KH_PERM_GET, uid), KH_ERR_NOT_FOUND);
    assert_int_equal(get_as(f, "bob", KH_PERM_GET, "missing"), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_op_grant(&alice, uid, "bob", KH_PERM_GET_ATTRIBUTES), KH_OK);
    assert_int_equal(get_as(f, "bob", KH_PERM_GET, uid), KH_ERR_PERMISSION); /* now visible */
    assert_int_equal(get_as(f, "bob", 0, uid), KH_ERR_NOT_FOUND);            /* 0 = owner only */
    assert_int_equal(get_as(f, "carol", KH_PERM_GET, uid), KH_ERR_NOT_FOUND);
    kh_ctx bob = ctx_for(f, "bob", KH_PERM_GET_ATTRIBUTES);
    kh_ttlv *attrs = NULL;
    assert_int_equal(kh_op_get_attributes(&bob, uid, NULL, 0, &attrs), KH_OK);
    kh_ttlv_free(&attrs);
    assert_int_equal(kh_op_grant(&alice, uid, "bob", KH_PERM_GET), KH_OK);
    assert_int_equal(get_as(f, "bob", KH_PERM_GET, uid), KH_OK);
    assert_int_equal(kh_op_revoke_grant(&alice, uid, "bob", KH_PERM_ALL), KH_OK);
    assert_int_equal(get_as(f, "bob", KH_PERM_GET, uid), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_op_revoke_grant(&alice, uid, "bob", KH_PERM_GET), KH_ERR_NOT_FOUND);
    free(uid);
}

static void test_wildcards(void **state)
{
    kh_fixture *f = *state;
    char *uid = alice_key(f, "w");
    kh_ctx alice = ctx_for(f, "alice", 0);
    assert_int_equal(kh_op_grant(&alice, "*", "*", KH_PERM_GET), KH_OK);
    assert_int_equal(get_as(f, "bob", KH_PERM_GET, uid), KH_OK);
    assert_int_equal(get_as(f, "carol", KH_PERM_GET, uid), KH_OK);
    char *later = alice_key(f, "w2"); /* "*" covers objects made afterwards too */
    assert_int_equal(get_as(f, "carol", KH_PERM_GET, later), KH_OK);
    assert_int_equal(get_as(f, "carol", KH_PERM_ENCRYPT, later), KH_ERR_PERMISSION);
    free(uid);
    free(later);
}

static void test_only_owner_manages_grants(void **state)
{
    kh_fixture *f = *state;
    char *uid = alice_key(f, "m");
    kh_ctx alice = ctx_for(f, "alice", 0), bob = ctx_for(f, "bob", 0),
           carol = ctx_for(f, "carol", 0);
    assert_int_equal(kh_op_grant(&alice, uid, "bob", KH_PERM_ALL), KH_OK);
    assert_int_equal(kh_op_grant(&bob, uid, "carol", KH_PERM_GET), KH_ERR_PERMISSION);
    assert_int_equal(kh_op_grant(&carol, uid, "carol", KH_PERM_GET), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_op_grant(&alice, "missing", "bob", KH_PERM_GET), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_op_grant(&alice, uid, "bob", 0), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_op_grant(&alice, uid, "bob", 1u << 20), KH_ERR_INVALID_ARG);
    /* bob's "*" is bob's objects, never alice's */
    assert_int_equal(kh_op_grant(&bob, "*", "carol", KH_PERM_GET), KH_OK);
    assert_int_equal(get_as(f, "carol", KH_PERM_GET, uid), KH_ERR_NOT_FOUND);
    kh_grant_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(kh_op_list_grants(&alice, NULL, &rows, &n), KH_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].grantee, "bob");
    assert_int_equal(rows[0].permissions, KH_PERM_ALL);
    kh_grant_rows_free(rows, n);
    /* a revoke only ever touches the caller's own grants */
    assert_int_equal(kh_op_revoke_grant(&bob, uid, "bob", KH_PERM_ALL), KH_ERR_NOT_FOUND);
    free(uid);
}

static void test_locate_follows_grants(void **state)
{
    kh_fixture *f = *state;
    char *a = alice_key(f, "a"), *b = alice_key(f, "b");
    kh_ctx alice = ctx_for(f, "alice", 0);
    assert_int_equal(locate_as(f, "alice"), 2);
    assert_int_equal(locate_as(f, "bob"), 0);
    assert_int_equal(kh_op_grant(&alice, a, "bob", KH_PERM_GET), KH_OK);
    assert_int_equal(locate_as(f, "bob"), 0); /* Get is not Locate */
    assert_int_equal(kh_op_grant(&alice, a, "bob", KH_PERM_LOCATE), KH_OK);
    assert_int_equal(locate_as(f, "bob"), 1);
    assert_int_equal(kh_op_grant(&alice, "*", "*", KH_PERM_LOCATE), KH_OK);
    assert_int_equal(locate_as(f, "bob"), 2);
    assert_int_equal(locate_as(f, "carol"), 2);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perm_names),
        cmocka_unit_test(test_operation_permissions),
        cmocka_unit_test_setup_teardown(test_owner_and_grants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wildcards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_only_owner_manages_grants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locate_follows_grants, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
