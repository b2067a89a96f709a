/*
 * test_kmip_json.c - JSON TTLV <-> kh_ttlv (src/proto/kmip_json.c), the name
 * tables it uses, and the POST /kmip/2_1 endpoint against a real service.
 */
#include "fixture.h"

#include "common/mem.h"
#include "common/metrics.h"
#include "proto/http_routes.h"
#include "proto/kmip_consts.h"
#include "proto/kmip_json.h"
#include "proto/kmip_names.h"
#include "proto/ttlv.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static kh_ttlv *decode_ok(const char *json)
{
    kh_ttlv *t = NULL;
    char detail[KH_KMIP_JSON_DETAIL_MAX] = "";
    kh_err err = kh_kmip_json_decode(json, strlen(json), &t, detail);
    if (err != KH_OK)
        fail_msg("decode failed (%s): %s\n%s", kh_err_name(err), detail, json);
    return t;
}

static kh_err decode_err(const char *json, char *detail)
{
    kh_ttlv *t = NULL;
    kh_err err = kh_kmip_json_decode(json, strlen(json), &t, detail);
    assert_null(t);
    return err;
}

/* encode(t) as a NUL-terminated string (caller frees). */
static char *encode(const kh_ttlv *t, const char *top)
{
    kh_buf b = {0};
    kh_kmip_json_encode(t, top, &b);
    char *s = kh_xstrndup((const char *)b.data, b.len);
    kh_buf_free(&b);
    return s;
}

/* decode -> encode gives exactly canonical, and canonical decodes to the
 * same tree (the binary form too). */
static void check_round_trip(const char *json, const char *canonical)
{
    kh_ttlv *t = decode_ok(json);
    char *s = encode(t, NULL);
    assert_string_equal(s, canonical);
    kh_ttlv *u = decode_ok(s);
    assert_true(kh_ttlv_equal(t, u));
    kh_buf bin = {0};
    kh_ttlv_encode(t, &bin);
    kh_ttlv *v = NULL;
    assert_int_equal(kh_ttlv_decode(bin.data, bin.len, &kh_ttlv_default_limits, &v), KH_OK);
    assert_true(kh_ttlv_equal(t, v));
    kh_buf_free(&bin);
    kh_ttlv_free(&v);
    kh_ttlv_free(&u);
    kh_ttlv_free(&t);
    free(s);
}

#define ITEM(tag, type, value) "{\"tag\":\"" tag "\",\"type\":\"" type "\",\"value\":" value "}"

static void test_every_type_round_trips(void **state)
{
    (void)state;
    check_round_trip(ITEM("CryptographicLength", "Integer", "-7"),
                     ITEM("CryptographicLength", "Integer", "-7"));
    check_round_trip(ITEM("CryptographicUsageMask", "Integer", "\"0x0000000C\""),
                     ITEM("CryptographicUsageMask", "Integer", "12"));
    check_round_trip(ITEM("UsageLimitsTotal", "LongInteger", "\"0x1\""),
                     ITEM("UsageLimitsTotal", "LongInteger", "\"0x0000000000000001\""));
    check_round_trip(ITEM("UsageLimitsTotal", "LongInteger", "-2"),
                     ITEM("UsageLimitsTotal", "LongInteger", "\"0xFFFFFFFFFFFFFFFE\""));
    check_round_trip(ITEM("D", "BigInteger", "\"0x0102\""),
                     ITEM("D", "BigInteger", "\"0x0000000000000102\""));
    check_round_trip(ITEM("D", "BigInteger", "\"0xFF\""),
                     ITEM("D", "BigInteger", "\"0xFFFFFFFFFFFFFFFF\""));
    check_round_trip(ITEM("CryptographicAlgorithm", "Enumeration", "\"aes\""),
                     ITEM("CryptographicAlgorithm", "Enumeration", "\"AES\""));
    check_round_trip(ITEM("CryptographicAlgorithm", "Enumeration", "\"HMAC_SHA256\""),
                     ITEM("CryptographicAlgorithm", "Enumeration", "\"HMACSHA256\""));
    check_round_trip(ITEM("ObjectType", "Enumeration", "\"0x00000002\""),
                     ITEM("ObjectType", "Enumeration", "\"SymmetricKey\""));
    check_round_trip(ITEM("ObjectType", "Enumeration", "2"),
                     ITEM("ObjectType", "Enumeration", "\"SymmetricKey\""));
    check_round_trip(ITEM("ObjectType", "Enumeration", "\"0x80000001\""),
                     ITEM("ObjectType", "Enumeration", "\"0x80000001\""));
    check_round_trip(ITEM("Sensitive", "Boolean", "true"), ITEM("Sensitive", "Boolean", "true"));
    check_round_trip(ITEM("Name", "TextString", "\"a\\\"b\\\\c\\u0001\\u00e9\""),
                     ITEM("Name", "TextString", "\"a\\\"b\\\\c\\u0001\xc3\xa9\""));
    check_round_trip(ITEM("KeyMaterial", "ByteString", "\"00ff10ab\""),
                     ITEM("KeyMaterial", "ByteString", "\"00FF10AB\""));
    check_round_trip(ITEM("KeyMaterial", "ByteString", "\"\""),
                     ITEM("KeyMaterial", "ByteString", "\"\""));
    check_round_trip(ITEM("ActivationDate", "DateTime", "\"2024-01-31T12:00:00Z\""),
                     ITEM("ActivationDate", "DateTime", "\"2024-01-31T12:00:00Z\""));
    check_round_trip(ITEM("ActivationDate", "DateTime", "\"2024-01-31T13:30:00+01:30\""),
                     ITEM("ActivationDate", "DateTime", "\"2024-01-31T12:00:00Z\""));
    check_round_trip(ITEM("ActivationDate", "DateTime", "1706702400"),
                     ITEM("ActivationDate", "DateTime", "\"2024-01-31T12:00:00Z\""));
    check_round_trip(ITEM("ActivationDate", "DateTime", "-1"),
                     ITEM("ActivationDate", "DateTime", "\"1969-12-31T23:59:59Z\""));
    check_round_trip(ITEM("ActivationDate", "DateTime", "253402300800"),
                     ITEM("ActivationDate", "DateTime", "253402300800"));
    check_round_trip(ITEM("LeaseTime", "Interval", "4294967295"),
                     ITEM("LeaseTime", "Interval", "4294967295"));
    check_round_trip(ITEM("0x42ABCD", "DateTimeExtended", "\"2024-02-29T00:00:00.5Z\""),
                     ITEM("0x42ABCD", "DateTimeExtended", "\"2024-02-29T00:00:00.500000Z\""));
    check_round_trip(ITEM("0x540001", "DateTimeExtended", "-1"),
                     ITEM("0x540001", "DateTimeExtended", "\"1969-12-31T23:59:59.999999Z\""));
    /* A Structure may leave out its type; unknown tags travel as hex. */
    check_round_trip("{\"tag\":\"Attributes\",\"value\":[]}",
                     ITEM("Attributes", "Structure", "[]"));
    check_round_trip(ITEM("0x420028", "Enumeration", "3"),
                     ITEM("CryptographicAlgorithm", "Enumeration", "\"AES\""));
    check_round_trip(ITEM("uniquebatchitemid", "ByteString", "\"01\""),
                     ITEM("UniqueBatchItemId", "ByteString", "\"01\""));
}

static void test_cosmian_style_create(void **state)
{
    (void)state;
    static const char json[] =
        "{\"tag\":\"Create\",\"type\":\"Structure\",\"value\":["
        "{\"tag\":\"ObjectType\",\"type\":\"Enumeration\",\"value\":\"SymmetricKey\"},"
        "{\"tag\":\"Attributes\",\"type\":\"Structure\",\"value\":["
        "{\"tag\":\"CryptographicAlgorithm\",\"type\":\"Enumeration\",\"value\":\"AES\"},"
        "{\"tag\":\"CryptographicLength\",\"type\":\"Integer\",\"value\":256},"
        "{\"tag\":\"CryptographicUsageMask\",\"type\":\"Integer\",\"value\":2108},"
        "{\"tag\":\"KeyFormatType\",\"type\":\"Enumeration\",\"value\":\"TransparentSymmetricKey\"}"
        ","
        "{\"tag\":\"ObjectType\",\"type\":\"Enumeration\",\"value\":\"SymmetricKey\"}]}]}";
    kh_ttlv *req = NULL;
    json_t *root = kh_kmip_json_parse(json, sizeof(json) - 1);
    assert_non_null(root);
    assert_int_equal(kh_kmip_json_from_value(root, KH_TAG_REQUEST_PAYLOAD, &req, NULL), KH_OK);
    json_decref(root);
    assert_int_equal(req->tag, KH_TAG_REQUEST_PAYLOAD);
    uint32_t v;
    assert_int_equal(kh_ttlv_get_enum(req, KH_TAG_OBJECT_TYPE, &v), KH_OK);
    assert_int_equal(v, KH_OBJECT_TYPE_SYMMETRIC_KEY);
    const kh_ttlv *attrs = kh_ttlv_find(req, KH_TAG_ATTRIBUTES);
    assert_non_null(attrs);
    assert_int_equal(kh_ttlv_get_enum(attrs, KH_TAG_CRYPTOGRAPHIC_ALGORITHM, &v), KH_OK);
    assert_int_equal(v, KH_CRYPTOGRAPHIC_ALGORITHM_AES);
    int32_t n;
    assert_int_equal(kh_ttlv_get_int(attrs, KH_TAG_CRYPTOGRAPHIC_LENGTH, &n), KH_OK);
    assert_int_equal(n, 256);
    char *s = encode(req, "Create");
    assert_string_equal(s, json);
    free(s);
    kh_ttlv_free(&req);
}

static void expect_error(const char *json, kh_err want, const char *detail_part)
{
    char detail[KH_KMIP_JSON_DETAIL_MAX] = "";
    kh_err err = decode_err(json, detail);
    if (err != want)
        fail_msg("%s: got %s, want %s (%s)", json, kh_err_name(err), kh_err_name(want), detail);
    if (detail_part && !strstr(detail, detail_part))
        fail_msg("%s: detail \"%s\" lacks \"%s\"", json, detail, detail_part);
}

static void test_malformed_and_wrong_types(void **state)
{
    (void)state;
    expect_error("", KH_ERR_DECODE, "not JSON");
    expect_error("{", KH_ERR_DECODE, "not JSON");
    expect_error("{\"tag\":\"Name\",\"type\":\"TextString\",\"value\":\"a\"} x", KH_ERR_DECODE,
                 "not JSON");
    expect_error("{\"tag\":\"Name\",\"tag\":\"Name\",\"type\":\"TextString\",\"value\":\"a\"}",
                 KH_ERR_DECODE, "not JSON"); /* duplicate key */
    expect_error("[]", KH_ERR_DECODE, "must be an object");
    expect_error("{\"type\":\"TextString\",\"value\":\"a\"}", KH_ERR_DECODE, "needs a \"tag\"");
    expect_error("{\"tag\":\"Name\",\"type\":\"TextString\"}", KH_ERR_DECODE, "\"value\"");
    expect_error("{\"tag\":\"Name\",\"value\":\"a\"}", KH_ERR_DECODE, "\"type\"");
    expect_error("{\"tag\":\"Name\",\"type\":\"TextString\",\"value\":\"a\",\"x\":1}",
                 KH_ERR_DECODE, "unexpected key");
    expect_error(ITEM("NoSuchTag", "TextString", "\"a\""), KH_ERR_DECODE, "unknown tag");
    expect_error(ITEM("0x42", "TextString", "\"a\""), KH_ERR_DECODE, "unknown tag");
    expect_error("{\"tag\":7,\"type\":\"TextString\",\"value\":\"a\"}", KH_ERR_DECODE, "string");
    expect_error(ITEM("Name", "Text", "\"a\""), KH_ERR_DECODE, "unknown \"type\"");
    expect_error(ITEM("Name", "TextString", "1"), KH_ERR_DECODE, "TextString");
    expect_error(ITEM("CryptographicLength", "Integer", "\"256\""), KH_ERR_DECODE, "Integer");
    expect_error(ITEM("CryptographicLength", "Integer", "2147483648"), KH_ERR_DECODE, "Integer");
    expect_error(ITEM("CryptographicLength", "Integer", "1.5"), KH_ERR_DECODE, "Integer");
    expect_error(ITEM("CryptographicLength", "Integer", "\"0x123456789\""), KH_ERR_DECODE,
                 "Integer");
    expect_error(ITEM("UsageLimitsTotal", "LongInteger", "\"0xZZ\""), KH_ERR_DECODE, "LongInteger");
    expect_error(ITEM("D", "BigInteger", "\"12\""), KH_ERR_DECODE, "BigInteger");
    expect_error(ITEM("ObjectType", "Enumeration", "\"NoSuchKind\""), KH_ERR_DECODE, "Enumeration");
    expect_error(ITEM("ObjectType", "Enumeration", "-1"), KH_ERR_DECODE, "Enumeration");
    expect_error(ITEM("Sensitive", "Boolean", "1"), KH_ERR_DECODE, "Boolean");
    expect_error(ITEM("KeyMaterial", "ByteString", "\"abc\""), KH_ERR_DECODE, "ByteString");
    expect_error(ITEM("KeyMaterial", "ByteString", "\"zz\""), KH_ERR_DECODE, "ByteString");
    expect_error(ITEM("ActivationDate", "DateTime", "\"2024-02-30T00:00:00Z\""), KH_ERR_DECODE,
                 "DateTime");
    expect_error(ITEM("ActivationDate", "DateTime", "\"2023-02-29T00:00:00Z\""), KH_ERR_DECODE,
                 "DateTime");
    expect_error(ITEM("ActivationDate", "DateTime", "\"2024-01-31T12:00:00\""), KH_ERR_DECODE,
                 "DateTime");
    expect_error(ITEM("ActivationDate", "DateTime", "\"2024-01-31T12:00:00.5Z\""), KH_ERR_DECODE,
                 "fractional");
    expect_error(ITEM("LeaseTime", "Interval", "-1"), KH_ERR_DECODE, "Interval");
    expect_error(ITEM("Attributes", "Structure", "{}"), KH_ERR_DECODE, "array");
    /* The detail points at the failing item, without its value. */
    char detail[KH_KMIP_JSON_DETAIL_MAX] = "";
    assert_int_equal(decode_err(ITEM("Attributes", "Structure",
                                     "[" ITEM("Name", "TextString", "\"x\"") "," ITEM(
                                         "Name", "Integer", "\"SECRET\"") "]"),
                                detail),
                     KH_ERR_DECODE);
    assert_non_null(strstr(detail, "/value/1"));
    assert_null(strstr(detail, "SECRET"));
}

static void test_depth_and_item_bombs(void **state)
{
    (void)state;
    kh_buf b = {0};
    /* Nested deeper than the TTLV bound. */
    static const char open[] = "{\"tag\":\"Attributes\",\"type\":\"Structure\",\"value\":[";
    for (int i = 0; i < 40; i++)
        kh_buf_append(&b, open, sizeof(open) - 1);
    for (int i = 0; i < 40; i++)
        kh_buf_append(&b, "]}", 2);
    char detail[KH_KMIP_JSON_DETAIL_MAX];
    kh_ttlv *t = NULL;
    assert_int_equal(kh_kmip_json_decode((const char *)b.data, b.len, &t, detail), KH_ERR_TOO_DEEP);
    assert_null(t);
    /* Nested deeper than jansson's own parser bound: refused, no crash. */
    kh_buf_clear(&b);
    for (int i = 0; i < 100000; i++)
        kh_buf_append_u8(&b, '[');
    assert_int_equal(kh_kmip_json_decode((const char *)b.data, b.len, &t, detail), KH_ERR_DECODE);
    /* More items than the TTLV bound. */
    kh_buf_clear(&b);
    static const char head[] = "{\"tag\":\"Attributes\",\"value\":[";
    static const char one[] = "{\"tag\":\"Sensitive\",\"type\":\"Boolean\",\"value\":true}";
    kh_buf_append(&b, head, sizeof(head) - 1);
    for (int i = 0; i < 70000; i++) {
        if (i)
            kh_buf_append_u8(&b, ',');
        kh_buf_append(&b, one, sizeof(one) - 1);
    }
    kh_buf_append(&b, "]}", 2);
    assert_int_equal(kh_kmip_json_decode((const char *)b.data, b.len, &t, detail),
                     KH_ERR_TOO_LARGE);
    kh_buf_free(&b);
}

static void test_names(void **state)
{
    (void)state;
    uint32_t v;
    assert_true(kh_kmip_tag_by_name("CryptographicAlgorithm", 22, &v));
    assert_int_equal(v, KH_TAG_CRYPTOGRAPHIC_ALGORITHM);
    assert_false(kh_kmip_tag_by_name("Cryptographic", 13, &v));
    assert_false(kh_kmip_tag_by_name("", 0, &v));
    for (size_t i = 0; i < kh_kmip_tag_names_count; i++) {
        const char *n = kh_kmip_tag_names[i].name;
        assert_true(kh_kmip_tag_by_name(n, strlen(n), &v));
        assert_int_equal(v, kh_kmip_tag_names[i].tag);
    }
    assert_string_equal(kh_kmip_enum_name_of(KH_TAG_OPERATION, KH_OPERATION_GET), "Get");
    assert_string_equal(
        kh_kmip_enum_name_of(KH_TAG_RESULT_REASON, KH_RESULT_REASON_INVALID_MESSAGE),
        "InvalidMessage");
    assert_null(kh_kmip_enum_name_of(KH_TAG_NAME, 1));
    assert_true(kh_kmip_enum_by_name(KH_TAG_OBJECT_TYPE, "symmetric-key", 13, &v));
    assert_int_equal(v, KH_OBJECT_TYPE_SYMMETRIC_KEY);
    assert_false(kh_kmip_enum_by_name(KH_TAG_OBJECT_TYPE, "___", 3, &v));
    for (size_t t = 0; t < kh_kmip_enum_tables_count; t++) {
        const kh_kmip_enum_table *e = &kh_kmip_enum_tables[t];
        for (size_t i = 0; i < e->count; i++) {
            assert_true(
                kh_kmip_enum_by_name(e->tag, e->names[i].name, strlen(e->names[i].name), &v));
            assert_int_equal(v, e->names[i].value);
        }
    }
}

/* ---- the endpoint, against a real service ----------------------------- */

static int endpoint(kh_fixture *f, const char *principal, const char *body, kh_buf *out)
{
    kh_err result;
    kh_buf_clear(out);
    return kh_kmip_json_endpoint(&f->svc, principal, (const uint8_t *)body, strlen(body), out,
                                 &result);
}

static char *out_str(const kh_buf *b)
{
    return kh_xstrndup((const char *)b->data, b->len);
}

static void test_endpoint_forms(void **state)
{
    (void)state;
    kh_fixture *f = kh_fixture_new();
    kh_buf out = {0};
    static const char create[] =
        "{\"tag\":\"Create\",\"type\":\"Structure\",\"value\":["
        "{\"tag\":\"ObjectType\",\"type\":\"Enumeration\",\"value\":\"SymmetricKey\"},"
        "{\"tag\":\"Attributes\",\"type\":\"Structure\",\"value\":["
        "{\"tag\":\"CryptographicAlgorithm\",\"type\":\"Enumeration\",\"value\":\"AES\"},"
        "{\"tag\":\"CryptographicLength\",\"type\":\"Integer\",\"value\":128}]}]}";
    assert_int_equal(endpoint(f, "p1", create, &out), 200);
    char *s = out_str(&out);
    assert_non_null(strstr(s, "{\"tag\":\"CreateResponse\",\"type\":\"Structure\""));
    const char *u = strstr(s, "\"UniqueIdentifier\",\"type\":\"TextString\",\"value\":\"");
    assert_non_null(u);
    char uid[64] = "";
    u += strlen("\"UniqueIdentifier\",\"type\":\"TextString\",\"value\":\"");
    memcpy(uid, u, strcspn(u, "\"") < sizeof(uid) ? strcspn(u, "\"") : 0);
    free(s);
    char get[256];
    snprintf(get, sizeof(get),
             "{\"tag\":\"Get\",\"type\":\"Structure\",\"value\":[{\"tag\":\"UniqueIdentifier\","
             "\"type\":\"TextString\",\"value\":\"%s\"}]}",
             uid);
    assert_int_equal(endpoint(f, "p1", get, &out), 200);
    s = out_str(&out);
    assert_non_null(strstr(s, "\"tag\":\"GetResponse\""));
    assert_non_null(strstr(s, "\"tag\":\"KeyMaterial\",\"type\":\"ByteString\""));
    free(s);
    /* Another principal: not found, in the bare form's error shape. */
    assert_int_equal(endpoint(f, "p2", get, &out), 404);
    s = out_str(&out);
    assert_non_null(strstr(s, "\"result_reason\":\"ItemNotFound\""));
    assert_non_null(strstr(s, "{\"message\":"));
    free(s);
    /* Not JSON TTLV: a ResponseMessage with InvalidMessage. */
    assert_int_equal(endpoint(f, "p1", "{\"tag\":\"Create\"", &out), 400);
    s = out_str(&out);
    assert_non_null(strstr(s, "{\"tag\":\"ResponseMessage\""));
    assert_non_null(strstr(s, "\"value\":\"InvalidMessage\""));
    free(s);
    assert_int_equal(endpoint(f, "p1", "{\"tag\":\"NotAnOperation\",\"value\":[]}", &out), 400);
    assert_int_equal(endpoint(f, "p1", "{\"tag\":\"ResponseMessage\",\"value\":[]}", &out), 400);
    /* A whole RequestMessage whose header is wrong: 200, failure in band. */
    assert_int_equal(endpoint(f, "p1", "{\"tag\":\"RequestMessage\",\"value\":[]}", &out), 200);
    s = out_str(&out);
    assert_non_null(strstr(s, "\"value\":\"OperationFailed\""));
    free(s);
    kh_buf_free(&out);
    kh_fixture_free(&f);
}

static void test_metrics_render(void **state)
{
    (void)state;
    kh_metrics_reset();
    kh_metrics_count("kmip", "Create", KH_OK);
    kh_metrics_count("kmip", "Create", KH_OK);
    kh_metrics_count("kmip", NULL, KH_ERR_DECODE);
    kh_metrics_observe("kmip", 0.003);
    kh_metrics_observe("kmip", 7.0);
    kh_metrics_observe("kmip", 100.0);
    for (int i = 0; i < KH_METRICS_MAX_SERIES + 10; i++) {
        char op[16];
        snprintf(op, sizeof(op), "op%d", i);
        kh_metrics_count("test", op, KH_OK); /* bounded: folded into "other" */
    }
    kh_metrics_gauges g = {3, 4, 5};
    kh_buf b = {0};
    kh_metrics_render(&g, &b);
    char *s = out_str(&b);
    assert_non_null(strstr(
        s,
        "keyhold_requests_total{protocol=\"kmip\",operation=\"Create\",result=\"success\"} 2\n"));
    assert_non_null(strstr(s, "keyhold_requests_total{protocol=\"kmip\",operation=\"none\",result="
                              "\"KH_ERR_DECODE\"} 1\n"));
    assert_non_null(
        strstr(s, "keyhold_request_duration_seconds_bucket{protocol=\"kmip\",le=\"0.005\"} 1\n"));
    assert_non_null(
        strstr(s, "keyhold_request_duration_seconds_bucket{protocol=\"kmip\",le=\"5\"} 1\n"));
    assert_non_null(
        strstr(s, "keyhold_request_duration_seconds_bucket{protocol=\"kmip\",le=\"10\"} 2\n"));
    assert_non_null(
        strstr(s, "keyhold_request_duration_seconds_bucket{protocol=\"kmip\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(s, "keyhold_request_duration_seconds_count{protocol=\"kmip\"} 3\n"));
    assert_non_null(strstr(s, "keyhold_open_connections{listener=\"kmip\"} 3\n"));
    assert_non_null(strstr(s, "keyhold_open_connections{listener=\"https\"} 4\n"));
    assert_non_null(strstr(s, "keyhold_worker_queue_depth 5\n"));
    assert_non_null(strstr(s, "protocol=\"other\",operation=\"other\""));
    size_t series = 0;
    for (const char *p = s; (p = strstr(p, "\nkeyhold_requests_total{")) != NULL; p++)
        series++;
    assert_true(series <= KH_METRICS_MAX_SERIES);
    free(s);
    kh_buf_free(&b);
    kh_metrics_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_round_trips),
        cmocka_unit_test(test_cosmian_style_create),
        cmocka_unit_test(test_malformed_and_wrong_types),
        cmocka_unit_test(test_depth_and_item_bombs),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_endpoint_forms),
        cmocka_unit_test(test_metrics_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
