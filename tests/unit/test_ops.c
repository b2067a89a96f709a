/*
 * test_ops.c - the operations called directly, without any transport,
 * against a real SQLite file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "ops/attrs.h"
#include "proto/kmip_consts.h"

static kh_ctx ctx_for(kh_fixture *f, const char *who)
{
    kh_ctx c = {.principal = who, .now = 1700000000, .svc = &f->svc};
    return c;
}

static kh_ttlv *aes_attrs(int bits, const char *name)
{
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(
        a, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, KH_CRYPTOGRAPHIC_ALGORITHM_AES));
    kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, bits));
    if (name) {
        kh_ttlv *n = kh_ttlv_add_take(a, kh_ttlv_new_struct(KH_TAG_NAME));
        kh_ttlv_add_take(n, kh_ttlv_new_text(KH_TAG_NAME_VALUE, name));
        kh_ttlv_add_take(
            n, kh_ttlv_new_enum(KH_TAG_NAME_TYPE, KH_NAME_TYPE_UNINTERPRETED_TEXT_STRING));
    }
    return a;
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

static const kh_ttlv *key_material(const kh_ttlv *obj)
{
    const kh_ttlv *kb = kh_ttlv_find(obj, KH_TAG_KEY_BLOCK);
    const kh_ttlv *kv = kb ? kh_ttlv_find(kb, KH_TAG_KEY_VALUE) : NULL;
    return kv ? kh_ttlv_find(kv, KH_TAG_KEY_MATERIAL) : NULL;
}

static void test_create_get(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    int sizes[] = {128, 192, 256};
    for (size_t i = 0; i < 3; i++) {
        kh_ttlv *a = aes_attrs(sizes[i], NULL);
        char *uid = NULL;
        assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
        uint32_t type = 0;
        kh_ttlv *obj = NULL;
        assert_int_equal(kh_op_get(&c, uid, &type, &obj), KH_OK);
        assert_int_equal(type, KH_OBJECT_TYPE_SYMMETRIC_KEY);
        const kh_ttlv *km = key_material(obj);
        assert_non_null(km);
        assert_int_equal(km->len, (size_t)sizes[i] / 8);
        kh_ttlv_free(&obj);
        kh_ttlv_free(&a);
        free(uid);
    }
}

static void test_create_default_usage_mask(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    kh_ttlv *a = aes_attrs(256, NULL);
    char *uid = NULL;
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    kh_attr_ref ref = {KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, NULL};
    kh_ttlv *got = NULL;
    assert_int_equal(kh_op_get_attributes(&c, uid, &ref, 1, &got), KH_OK);
    assert_int_equal(got->nkids, 1);
    assert_int_equal(got->kids[0]->num,
                     KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT | KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT);
    kh_ttlv_free(&got);
    free(uid);
    /* an explicit mask is kept as given */
    kh_ttlv_add_take(
        a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, KH_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY));
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    assert_int_equal(kh_op_get_attributes(&c, uid, &ref, 1, &got), KH_OK);
    assert_int_equal(got->kids[0]->num, KH_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY);
    kh_ttlv_free(&got);
    kh_ttlv_free(&a);
    free(uid);
}

static void test_create_rejects(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    char *uid = NULL;
    kh_ttlv *a = aes_attrs(100, NULL);
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_ERR_INVALID_FIELD);
    kh_ttlv_free(&a);
    a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_ERR_MISSING_DATA);
    kh_ttlv_add_take(a, kh_ttlv_new_enum(KH_TAG_STATE, KH_STATE_ACTIVE));
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid),
                     KH_ERR_ATTR_READ_ONLY);
    kh_ttlv_free(&a);
    a = aes_attrs(256, NULL);
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_CERTIFICATE, a, &uid), KH_ERR_UNSUPPORTED);
    kh_ttlv_free(&a);
    assert_null(uid);
}

static void test_lifecycle(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    kh_ttlv *a = aes_attrs(256, "life");
    char *uid = NULL;
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    assert_int_equal(kh_op_activate(&c, uid), KH_OK);
    assert_int_equal(kh_op_activate(&c, uid), KH_ERR_WRONG_STATE);
    assert_int_equal(kh_op_destroy(&c, uid), KH_ERR_WRONG_STATE); /* Active */
    assert_int_equal(kh_op_revoke(&c, uid, KH_REVOCATION_REASON_CODE_KEY_COMPROMISE, "leak", 0),
                     KH_OK);
    assert_int_equal(kh_op_destroy(&c, uid), KH_OK);
    uint32_t type;
    kh_ttlv *obj = NULL;
    assert_int_equal(kh_op_get(&c, uid, &type, &obj), KH_ERR_NO_KEY_VALUE);
    kh_ttlv *attrs = NULL;
    kh_attr_ref ref = {KH_TAG_STATE, NULL};
    assert_int_equal(kh_op_get_attributes(&c, uid, &ref, 1, &attrs), KH_OK);
    assert_int_equal(attrs->nkids, 1);
    assert_int_equal(attrs->kids[0]->num, KH_STATE_DESTROYED_COMPROMISED);
    kh_ttlv_free(&attrs);
    assert_int_equal(kh_op_destroy(&c, uid), KH_ERR_WRONG_STATE);
    kh_ttlv_free(&a);
    free(uid);
}

static void test_isolation_and_locate(void **state)
{
    kh_fixture *f = *state;
    kh_ctx alice = ctx_for(f, "alice"), bob = ctx_for(f, "bob");
    char *uids[3] = {0};
    for (int i = 0; i < 3; i++) {
        kh_ttlv *a = aes_attrs(i == 2 ? 128 : 256, "shared-name");
        assert_int_equal(kh_op_create(&alice, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uids[i]), KH_OK);
        kh_ttlv_free(&a);
    }
    uint32_t type;
    kh_ttlv *obj = NULL;
    assert_int_equal(kh_op_get(&bob, uids[0], &type, &obj), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_op_destroy(&bob, uids[0]), KH_ERR_NOT_FOUND);
    kh_ttlv *q = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv *n = kh_ttlv_add_take(q, kh_ttlv_new_struct(KH_TAG_NAME));
    kh_ttlv_add_take(n, kh_ttlv_new_text(KH_TAG_NAME_VALUE, "shared-name"));
    kh_locate_result r;
    assert_int_equal(kh_op_locate(&bob, q, 0, -1, &r), KH_OK);
    assert_int_equal(r.n, 0);
    kh_locate_result_clear(&r);
    assert_int_equal(kh_op_locate(&alice, q, 0, -1, &r), KH_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.total, 3);
    kh_locate_result_clear(&r);
    kh_ttlv_add_take(q, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, 128));
    assert_int_equal(kh_op_locate(&alice, q, 0, -1, &r), KH_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.uids[0], uids[2]);
    kh_locate_result_clear(&r);
    kh_ttlv_remove(q, 1);
    assert_int_equal(kh_op_locate(&alice, q, 1, 1, &r), KH_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.total, 3);
    kh_locate_result_clear(&r);
    kh_ttlv_free(&q);
    for (int i = 0; i < 3; i++)
        free(uids[i]);
}

static void test_custom_attributes(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    kh_ttlv *a = aes_attrs(256, NULL);
    char *uid = NULL;
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    kh_ttlv *x = kh_attr_custom_take("x-purpose", kh_ttlv_new_text(0, "backup"));
    int32_t idx = -1;
    assert_int_equal(kh_op_add_attribute(&c, uid, x, &idx), KH_OK);
    assert_int_equal(idx, 0);
    assert_int_equal(kh_op_add_attribute(&c, uid, x, &idx), KH_OK);
    assert_int_equal(idx, 1);
    kh_ttlv *y = kh_attr_custom_take("x-purpose", kh_ttlv_new_text(0, "archive"));
    assert_int_equal(kh_op_modify_attribute(&c, uid, NULL, y, 1, &idx), KH_OK);
    kh_attr_ref ref = {KH_TAG_ATTRIBUTE, "x-purpose"};
    kh_ttlv *got = NULL;
    assert_int_equal(kh_op_get_attributes(&c, uid, &ref, 1, &got), KH_OK);
    assert_int_equal(got->nkids, 2);
    assert_true(kh_ttlv_equal(got->kids[1], y));
    kh_ttlv_free(&got);
    kh_ttlv *deleted = NULL;
    assert_int_equal(kh_op_delete_attribute(&c, uid, &ref, NULL, 0, &deleted), KH_OK);
    assert_true(kh_ttlv_equal(deleted, x));
    kh_ttlv_free(&deleted);
    kh_attr_ref state_ref = {KH_TAG_STATE, NULL};
    assert_int_equal(kh_op_delete_attribute(&c, uid, &state_ref, NULL, 0, NULL),
                     KH_ERR_ATTR_READ_ONLY);
    kh_ttlv *len = kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, 128);
    assert_int_equal(kh_op_add_attribute(&c, uid, len, NULL), KH_ERR_ATTR_READ_ONLY);
    kh_ttlv_free(&len);
    kh_ttlv_free(&x);
    kh_ttlv_free(&y);
    kh_ttlv_free(&a);
    free(uid);
}

static void test_survives_reopen(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    kh_ttlv *a = aes_attrs(256, NULL);
    char *uid = NULL;
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    uint32_t type;
    kh_ttlv *before = NULL, *after = NULL;
    assert_int_equal(kh_op_get(&c, uid, &type, &before), KH_OK);
    kh_fixture_close(f);
    assert_int_equal(kh_fixture_open(f), 0);
    c = ctx_for(f, "alice");
    assert_int_equal(kh_op_get(&c, uid, &type, &after), KH_OK);
    assert_true(kh_ttlv_equal(before, after));
    kh_ttlv_free(&before);
    kh_ttlv_free(&after);
    kh_ttlv_free(&a);
    free(uid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_default_usage_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_isolation_and_locate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_custom_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_survives_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
