/*
 * test_kmip.c - the KMIP message layer without a network: hand-built
 * RequestMessages through kh_kmip_handle, responses decoded and checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fixture.h"
#include "proto/kmip.h"
#include "proto/kmip_consts.h"

static kh_ttlv *request(int major, int minor, int batch_count)
{
    kh_ttlv *m = kh_ttlv_new_struct(KH_TAG_REQUEST_MESSAGE);
    kh_ttlv *h = kh_ttlv_add_take(m, kh_ttlv_new_struct(KH_TAG_REQUEST_HEADER));
    kh_ttlv_add_take(h, kh_kmip_version_item((kh_kmip_version){major, minor}));
    kh_ttlv_add_take(h, kh_ttlv_new_int(KH_TAG_BATCH_COUNT, batch_count));
    return m;
}

static kh_ttlv *add_item(kh_ttlv *m, uint32_t op)
{
    kh_ttlv *bi = kh_ttlv_add_take(m, kh_ttlv_new_struct(KH_TAG_BATCH_ITEM));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_OPERATION, op));
    return kh_ttlv_add_take(bi, kh_ttlv_new_struct(KH_TAG_REQUEST_PAYLOAD));
}

static kh_ttlv *v1_attr(const char *name, kh_ttlv *value)
{
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTE);
    kh_ttlv_add_take(a, kh_ttlv_new_text(KH_TAG_ATTRIBUTE_NAME, name));
    value->tag = KH_TAG_ATTRIBUTE_VALUE;
    kh_ttlv_add_take(a, value);
    return a;
}

static void add_create_aes(kh_ttlv *m)
{
    kh_ttlv *p = add_item(m, KH_OPERATION_CREATE);
    kh_ttlv_add_take(p, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, KH_OBJECT_TYPE_SYMMETRIC_KEY));
    kh_ttlv *ta = kh_ttlv_add_take(p, kh_ttlv_new_struct(KH_TAG_TEMPLATE_ATTRIBUTE));
    kh_ttlv_add_take(ta, v1_attr("Cryptographic Algorithm",
                                 kh_ttlv_new_enum(0, KH_CRYPTOGRAPHIC_ALGORITHM_AES)));
    kh_ttlv_add_take(ta, v1_attr("Cryptographic Length", kh_ttlv_new_int(0, 256)));
}

/* Encode req, handle it as principal, decode the response. */
static kh_ttlv *roundtrip(kh_fixture *f, kh_ttlv *req)
{
    kh_buf in = {0}, out = {0};
    kh_ttlv_encode(req, &in);
    kh_kmip_handle(&f->svc, "alice", in.data, in.len, &out);
    kh_ttlv *resp = NULL;
    assert_int_equal(kh_ttlv_decode(out.data, out.len, &kh_ttlv_default_limits, &resp), KH_OK);
    kh_buf_free(&in);
    kh_buf_free(&out);
    kh_ttlv_free(&req);
    return resp;
}

static const kh_ttlv *item(const kh_ttlv *resp, size_t i)
{
    const kh_ttlv *bi = kh_ttlv_find_nth(resp, KH_TAG_BATCH_ITEM, i);
    assert_non_null(bi);
    return bi;
}

static uint32_t status_of(const kh_ttlv *bi)
{
    uint32_t s = 99;
    assert_int_equal(kh_ttlv_get_enum(bi, KH_TAG_RESULT_STATUS, &s), KH_OK);
    return s;
}

static uint32_t reason_of(const kh_ttlv *bi)
{
    uint32_t r = 0;
    assert_int_equal(kh_ttlv_get_enum(bi, KH_TAG_RESULT_REASON, &r), KH_OK);
    return r;
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

static void test_batch_with_placeholder(void **state)
{
    kh_ttlv *req = request(1, 2, 3);
    add_create_aes(req);
    add_item(req, KH_OPERATION_ACTIVATE);
    add_item(req, KH_OPERATION_GET);
    kh_ttlv *resp = roundtrip(*state, req);
    const kh_ttlv *hdr = kh_ttlv_find(resp, KH_TAG_RESPONSE_HEADER);
    int32_t count = 0;
    assert_int_equal(kh_ttlv_get_int(hdr, KH_TAG_BATCH_COUNT, &count), KH_OK);
    assert_int_equal(count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(status_of(item(resp, i)), KH_RESULT_STATUS_SUCCESS);
    const kh_ttlv *get = kh_ttlv_find(item(resp, 2), KH_TAG_RESPONSE_PAYLOAD);
    const char *uid0 = NULL, *uid2 = NULL;
    assert_int_equal(kh_ttlv_get_text(kh_ttlv_find(item(resp, 0), KH_TAG_RESPONSE_PAYLOAD),
                                      KH_TAG_UNIQUE_IDENTIFIER, &uid0),
                     KH_OK);
    assert_int_equal(kh_ttlv_get_text(get, KH_TAG_UNIQUE_IDENTIFIER, &uid2), KH_OK);
    assert_string_equal(uid0, uid2);
    assert_non_null(kh_ttlv_find(get, KH_TAG_SYMMETRIC_KEY));
    kh_ttlv_free(&resp);
}

static void test_stop_and_continue(void **state)
{
    for (int cont = 0; cont < 2; cont++) {
        kh_ttlv *req = request(1, 4, 3);
        kh_ttlv *hdr = kh_ttlv_find(req, KH_TAG_REQUEST_HEADER);
        kh_ttlv_add_take(hdr, kh_ttlv_new_enum(KH_TAG_BATCH_ERROR_CONTINUATION_OPTION,
                                               cont ? KH_BATCH_ERROR_CONTINUATION_OPTION_CONTINUE
                                                    : KH_BATCH_ERROR_CONTINUATION_OPTION_STOP));
        add_create_aes(req);
        kh_ttlv *bad = add_item(req, KH_OPERATION_GET);
        kh_ttlv_add_take(bad, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, "no-such-object"));
        add_item(req, KH_OPERATION_QUERY);
        kh_ttlv *resp = roundtrip(*state, req);
        size_t n = kh_ttlv_count(resp, KH_TAG_BATCH_ITEM);
        assert_int_equal(n, cont ? 3 : 2);
        assert_int_equal(status_of(item(resp, 1)), KH_RESULT_STATUS_OPERATION_FAILED);
        assert_int_equal(reason_of(item(resp, 1)), KH_RESULT_REASON_ITEM_NOT_FOUND);
        if (cont)
            assert_int_equal(status_of(item(resp, 2)), KH_RESULT_STATUS_SUCCESS);
        kh_ttlv_free(&resp);
    }
}

static void test_version_echo_and_unknown_op(void **state)
{
    int versions[][2] = {{1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, {2, 0}, {2, 1}};
    for (size_t i = 0; i < 7; i++) {
        kh_ttlv *req = request(versions[i][0], versions[i][1], 1);
        add_item(req, 0xFFFF);
        kh_ttlv *resp = roundtrip(*state, req);
        const kh_ttlv *pv =
            kh_ttlv_find(kh_ttlv_find(resp, KH_TAG_RESPONSE_HEADER), KH_TAG_PROTOCOL_VERSION);
        int32_t major = -1, minor = -1;
        assert_int_equal(kh_ttlv_get_int(pv, KH_TAG_PROTOCOL_VERSION_MAJOR, &major), KH_OK);
        assert_int_equal(kh_ttlv_get_int(pv, KH_TAG_PROTOCOL_VERSION_MINOR, &minor), KH_OK);
        assert_int_equal(major, versions[i][0]);
        assert_int_equal(minor, versions[i][1]);
        assert_int_equal(reason_of(item(resp, 0)), KH_RESULT_REASON_OPERATION_NOT_SUPPORTED);
        kh_ttlv_free(&resp);
    }
}

static void test_bad_envelopes(void **state)
{
    /* batch count that does not match the items */
    kh_ttlv *req = request(1, 2, 2);
    add_item(req, KH_OPERATION_QUERY);
    kh_ttlv *resp = roundtrip(*state, req);
    assert_int_equal(reason_of(item(resp, 0)), KH_RESULT_REASON_INVALID_MESSAGE);
    kh_ttlv_free(&resp);
    /* unsupported protocol version */
    req = request(3, 0, 1);
    add_item(req, KH_OPERATION_QUERY);
    resp = roundtrip(*state, req);
    assert_int_equal(status_of(item(resp, 0)), KH_RESULT_STATUS_OPERATION_FAILED);
    assert_int_equal(reason_of(item(resp, 0)), KH_RESULT_REASON_INVALID_MESSAGE);
    kh_ttlv_free(&resp);
    /* bytes that are not TTLV at all */
    kh_fixture *f = *state;
    kh_buf out = {0};
    const uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";
    kh_kmip_handle(&f->svc, "alice", junk, sizeof(junk) - 1, &out);
    assert_int_equal(kh_ttlv_decode(out.data, out.len, &kh_ttlv_default_limits, &resp), KH_OK);
    assert_int_equal(reason_of(item(resp, 0)), KH_RESULT_REASON_INVALID_MESSAGE);
    kh_ttlv_free(&resp);
    kh_buf_free(&out);
    /* a payload that is not a structure */
    req = request(1, 2, 1);
    kh_ttlv *bi = kh_ttlv_add_take(req, kh_ttlv_new_struct(KH_TAG_BATCH_ITEM));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_OPERATION, KH_OPERATION_QUERY));
    kh_ttlv_add_take(bi, kh_ttlv_new_int(KH_TAG_REQUEST_PAYLOAD, 7));
    resp = roundtrip(*state, req);
    assert_int_equal(reason_of(item(resp, 0)), KH_RESULT_REASON_INVALID_MESSAGE);
    kh_ttlv_free(&resp);
}

static void test_discover_versions(void **state)
{
    kh_ttlv *req = request(1, 1, 1);
    kh_ttlv *p = add_item(req, KH_OPERATION_DISCOVER_VERSIONS);
    kh_ttlv_add_take(p, kh_kmip_version_item((kh_kmip_version){9, 9}));
    kh_ttlv_add_take(p, kh_kmip_version_item((kh_kmip_version){1, 2}));
    kh_ttlv *resp = roundtrip(*state, req);
    const kh_ttlv *rp = kh_ttlv_find(item(resp, 0), KH_TAG_RESPONSE_PAYLOAD);
    assert_int_equal(kh_ttlv_count(rp, KH_TAG_PROTOCOL_VERSION), 1);
    kh_ttlv_free(&resp);
    req = request(1, 1, 1);
    add_item(req, KH_OPERATION_DISCOVER_VERSIONS);
    resp = roundtrip(*state, req);
    rp = kh_ttlv_find(item(resp, 0), KH_TAG_RESPONSE_PAYLOAD);
    assert_int_equal(kh_ttlv_count(rp, KH_TAG_PROTOCOL_VERSION), kh_kmip_versions_count);
    kh_ttlv_free(&resp);
}

static void test_v1_attributes(void **state)
{
    kh_ttlv *req = request(1, 2, 3);
    add_create_aes(req);
    kh_ttlv *p = add_item(req, KH_OPERATION_ADD_ATTRIBUTE);
    kh_ttlv_add_take(p, v1_attr("x-owner-team", kh_ttlv_new_text(0, "storage")));
    p = add_item(req, KH_OPERATION_GET_ATTRIBUTES);
    kh_ttlv_add_take(p, kh_ttlv_new_text(KH_TAG_ATTRIBUTE_NAME, "x-owner-team"));
    kh_ttlv_add_take(p, kh_ttlv_new_text(KH_TAG_ATTRIBUTE_NAME, "Cryptographic Length"));
    kh_ttlv *resp = roundtrip(*state, req);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(status_of(item(resp, i)), KH_RESULT_STATUS_SUCCESS);
    const kh_ttlv *rp = kh_ttlv_find(item(resp, 2), KH_TAG_RESPONSE_PAYLOAD);
    assert_int_equal(kh_ttlv_count(rp, KH_TAG_ATTRIBUTE), 2);
    const kh_ttlv *len = kh_ttlv_find_nth(rp, KH_TAG_ATTRIBUTE, 0);
    const char *name = NULL;
    assert_int_equal(kh_ttlv_get_text(len, KH_TAG_ATTRIBUTE_NAME, &name), KH_OK);
    assert_string_equal(name, "Cryptographic Length");
    assert_int_equal(kh_ttlv_find(len, KH_TAG_ATTRIBUTE_VALUE)->num, 256);
    kh_ttlv_free(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_with_placeholder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_echo_and_unknown_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_envelopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_attributes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
