/*
 * test_ttlv.c - unit tests for src/proto/ttlv.c, the TTLV binary codec.
 *
 * Good input: round trips of every type and the byte vectors of the KMIP 1.x
 * specification (section 9.1.2), which encode must reproduce exactly.
 * Malformed input is tested as carefully: every prefix of a valid message,
 * every wrong length, padding, tag and type, and the resource bombs (depth,
 * size, item count), each with its exact error code.
 */
#include "proto/ttlv.h"

#include "proto/kmip_consts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TAG 0x420020U

/* A pointer decode must leave alone when it fails. */
static kh_ttlv sentinel_node;
#define SENTINEL (&sentinel_node)

static void expect_decode_err(const uint8_t *b, size_t n, const kh_ttlv_limits *lim, kh_err want)
{
    kh_ttlv *t = SENTINEL;
    assert_int_equal(kh_ttlv_decode(b, n, lim, &t), want);
    assert_ptr_equal(t, SENTINEL);
}

#define EXPECT_ERR(arr, want) expect_decode_err((arr), sizeof(arr), &kh_ttlv_default_limits, (want))

/* encode(t) must be exactly want[], and decode(want) must equal t. */
static void check_bytes(kh_ttlv *t, const uint8_t *want, size_t n)
{
    kh_buf b = {0};
    kh_ttlv_encode(t, &b);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, want, n);
    kh_ttlv *d = NULL;
    assert_int_equal(kh_ttlv_decode(want, n, &kh_ttlv_default_limits, &d), KH_OK);
    assert_true(kh_ttlv_equal(d, t));
    kh_ttlv_free(&d);
    kh_buf_free(&b);
    kh_ttlv_free(&t);
}

#define CHECK_BYTES(t, arr) check_bytes((t), (arr), sizeof(arr))

/* decode(encode(t)) == t and encode(decode(bytes)) == bytes; frees t. */
static void roundtrip(kh_ttlv *t)
{
    kh_buf b = {0}, b2 = {0};
    kh_ttlv_encode(t, &b);
    assert_int_equal(b.len % 8, 0);
    kh_ttlv *d = NULL;
    assert_int_equal(kh_ttlv_decode(b.data, b.len, &kh_ttlv_default_limits, &d), KH_OK);
    assert_true(kh_ttlv_equal(d, t));
    kh_ttlv_encode(d, &b2);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.data, b.data, b.len);
    kh_ttlv_free(&d);
    kh_ttlv_free(&t);
    kh_buf_free(&b);
    kh_buf_free(&b2);
}

static kh_ttlv *decode_ok(const uint8_t *b, size_t n)
{
    kh_ttlv *t = NULL;
    assert_int_equal(kh_ttlv_decode(b, n, &kh_ttlv_default_limits, &t), KH_OK);
    assert_non_null(t);
    return t;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A message using every type, nested three deep. */
static kh_ttlv *sample_message(void)
{
    static const uint8_t big[] = {0,    0,    0,    0,    3,    0xFD, 0x35, 0xEB,
                                  0x6B, 0xC2, 0xDF, 0x46, 0x18, 0x08, 0,    0};
    static const uint8_t key[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    kh_ttlv *m = kh_ttlv_new_struct(KH_TAG_REQUEST_MESSAGE);
    kh_ttlv *h = kh_ttlv_add_take(m, kh_ttlv_new_struct(KH_TAG_REQUEST_HEADER));
    kh_ttlv *pv = kh_ttlv_add_take(h, kh_ttlv_new_struct(KH_TAG_PROTOCOL_VERSION));
    kh_ttlv_add_take(pv, kh_ttlv_new_int(KH_TAG_PROTOCOL_VERSION_MAJOR, 1));
    kh_ttlv_add_take(pv, kh_ttlv_new_int(KH_TAG_PROTOCOL_VERSION_MINOR, -2));
    kh_ttlv_add_take(h, kh_ttlv_new_datetime(KH_TAG_TIME_STAMP, 1205495800));
    kh_ttlv_add_take(h, kh_ttlv_new_bool(KH_TAG_ASYNCHRONOUS_INDICATOR, true));
    kh_ttlv_add_take(h, kh_ttlv_new_int(KH_TAG_BATCH_COUNT, 1));
    kh_ttlv *bi = kh_ttlv_add_take(m, kh_ttlv_new_struct(KH_TAG_BATCH_ITEM));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_OPERATION, 0x0A));
    kh_ttlv *pl = kh_ttlv_add_take(bi, kh_ttlv_new_struct(KH_TAG_REQUEST_PAYLOAD));
    kh_ttlv_add_take(pl, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, "Hello World"));
    kh_ttlv_add_take(pl, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, key, sizeof(key)));
    kh_ttlv_add_take(pl, kh_ttlv_new_bigint(TAG, big, sizeof(big)));
    kh_ttlv_add_take(pl, kh_ttlv_new_long(TAG, 123456789000000000LL));
    kh_ttlv_add_take(pl, kh_ttlv_new_interval(TAG, 864000));
    kh_ttlv_add_take(pl, kh_ttlv_new_datetime_ext(TAG, 1205495800123456LL));
    kh_ttlv_add_take(pl, kh_ttlv_new_text(TAG, ""));
    kh_ttlv_add_take(pl, kh_ttlv_new_struct(TAG));
    return m;
}

static void encode_sample(kh_buf *b)
{
    kh_ttlv *m = sample_message();
    kh_ttlv_encode(m, b);
    kh_ttlv_free(&m);
}

/* ---- the KMIP 1.x specification's examples ----------------------------- */

static void test_spec_integer(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x02, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 0};
    CHECK_BYTES(kh_ttlv_new_int(TAG, 8), b);
    kh_ttlv *t = decode_ok(b, sizeof(b));
    assert_int_equal(t->tag, TAG);
    assert_int_equal(t->type, KH_TTLV_INTEGER);
    assert_int_equal(t->num, 8);
    kh_ttlv_free(&t);
}

static void test_spec_long_integer(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x03, 0,    0,    0,    8,
                                0x01, 0xB6, 0x9B, 0x4B, 0xA5, 0x74, 0x92, 0x00};
    CHECK_BYTES(kh_ttlv_new_long(TAG, 123456789000000000LL), b);
}

static void test_spec_big_integer(void **state)
{
    (void)state;
    static const uint8_t v[] = {0,    0,    0,    0,    0x03, 0xFD, 0x35, 0xEB,
                                0x6B, 0xC2, 0xDF, 0x46, 0x18, 0x08, 0,    0};
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x04, 0,    0,    0,    0x10, 0,    0,    0, 0,
                                0x03, 0xFD, 0x35, 0xEB, 0x6B, 0xC2, 0xDF, 0x46, 0x18, 0x08, 0, 0};
    CHECK_BYTES(kh_ttlv_new_bigint(TAG, v, sizeof(v)), b);
    /* The builder sign-extends a value that is not a multiple of 8. */
    CHECK_BYTES(kh_ttlv_new_bigint(TAG, v + 4, sizeof(v) - 4), b);
}

static void test_spec_enumeration(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x05, 0, 0, 0, 4, 0, 0, 0, 0xFF, 0, 0, 0, 0};
    CHECK_BYTES(kh_ttlv_new_enum(TAG, 255), b);
}

static void test_spec_boolean(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x06, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1};
    CHECK_BYTES(kh_ttlv_new_bool(TAG, true), b);
}

static void test_spec_text_string(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x07, 0,   0,   0,   0x0B, 'H', 'e', 'l', 'l',
                                'o',  ' ',  'W',  'o',  'r', 'l', 'd', 0,    0,   0,   0,   0};
    CHECK_BYTES(kh_ttlv_new_text(TAG, "Hello World"), b);
    kh_ttlv *t = decode_ok(b, sizeof(b));
    assert_int_equal(t->len, 11);
    assert_string_equal((const char *)t->data, "Hello World");
    kh_ttlv_free(&t);
}

static void test_spec_byte_string(void **state)
{
    (void)state;
    static const uint8_t v[] = {1, 2, 3};
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x08, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 0, 0};
    CHECK_BYTES(kh_ttlv_new_bytes(TAG, v, sizeof(v)), b);
}

static void test_spec_date_time(void **state)
{
    (void)state;
    /* Friday, March 14, 2008, 11:56:40 GMT */
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x09, 0,    0,    0,    8,
                                0,    0,    0,    0,    0x47, 0xDA, 0x67, 0xF8};
    CHECK_BYTES(kh_ttlv_new_datetime(TAG, 1205495800), b);
}

static void test_spec_interval(void **state)
{
    (void)state;
    /* 10 days */
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x0A, 0, 0, 0, 4, 0, 0x0D, 0x2F, 0, 0, 0, 0, 0};
    CHECK_BYTES(kh_ttlv_new_interval(TAG, 864000), b);
}

/* Not among the 1.x examples (the type is KMIP 2.0): microseconds since the
 * epoch, 2008-03-14 11:56:40.123456 UTC, big-endian. */
static void test_vector_date_time_extended(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x0B, 0,    0,    0,    8,
                                0x00, 0x04, 0x48, 0x64, 0x5C, 0xF1, 0xD0, 0x40};
    CHECK_BYTES(kh_ttlv_new_datetime_ext(TAG, 1205495800123456LL), b);
}

static void test_spec_structure(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x42, 0x00, 0x20, 0x01, 0,    0,    0,    0x20, 0x42, 0x00,
                                0x04, 0x05, 0,    0,    0,    4,    0,    0,    0,    0xFE,
                                0,    0,    0,    0,    0x42, 0x00, 0x05, 0x02, 0,    0,
                                0,    4,    0,    0,    0,    0xFF, 0,    0,    0,    0};
    kh_ttlv *s = kh_ttlv_new_struct(TAG);
    kh_ttlv_add_take(s, kh_ttlv_new_enum(0x420004, 254));
    kh_ttlv_add_take(s, kh_ttlv_new_int(0x420005, 255));
    CHECK_BYTES(s, b);
    kh_ttlv *t = decode_ok(b, sizeof(b));
    assert_int_equal(t->nkids, 2);
    assert_int_equal(t->kids[0]->type, KH_TTLV_ENUMERATION);
    assert_int_equal(t->kids[0]->num, 254);
    assert_int_equal(t->kids[1]->type, KH_TTLV_INTEGER);
    assert_int_equal(t->kids[1]->num, 255);
    kh_ttlv_free(&t);
}

/* ---- round trips ------------------------------------------------------- */

static void test_roundtrip_numbers(void **state)
{
    (void)state;
    static const int32_t ints[] = {0, 1, -1, -8, INT32_MIN, INT32_MAX};
    static const int64_t longs[] = {0, -1, 123456789000000000LL, INT64_MIN, INT64_MAX};
    static const uint32_t u32s[] = {0, 1, 255, 0x80000000U, UINT32_MAX};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        roundtrip(kh_ttlv_new_int(TAG, ints[i]));
    for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
        roundtrip(kh_ttlv_new_long(TAG, longs[i]));
        roundtrip(kh_ttlv_new_datetime(TAG, longs[i]));
        roundtrip(kh_ttlv_new_datetime_ext(TAG, longs[i]));
    }
    for (size_t i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++) {
        roundtrip(kh_ttlv_new_enum(TAG, u32s[i]));
        roundtrip(kh_ttlv_new_interval(TAG, u32s[i]));
    }
    roundtrip(kh_ttlv_new_bool(TAG, false));
    roundtrip(kh_ttlv_new_bool(TAG, true));
}

static void test_decode_values(void **state)
{
    (void)state;
    static const uint8_t neg[] = {0x42, 0, 0x20, 2, 0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 0};
    static const uint8_t en[] = {0x42, 0, 0x20, 5, 0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 0, 0};
    static const uint8_t lng[] = {0x42, 0,    0x20, 3,    0,    0,    0,    8,
                                  0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    kh_ttlv *t = decode_ok(neg, sizeof(neg));
    assert_true(t->num == -2); /* Integer is sign-extended */
    kh_ttlv_free(&t);
    t = decode_ok(en, sizeof(en));
    assert_true(t->num == 0xFFFFFFFELL); /* Enumeration is not */
    kh_ttlv_free(&t);
    t = decode_ok(lng, sizeof(lng));
    assert_true(t->num == -1);
    kh_ttlv_free(&t);
}

static void test_roundtrip_big_integer(void **state)
{
    (void)state;
    static const uint8_t neg[] = {0xFF, 0x00, 0x01};
    roundtrip(kh_ttlv_new_bigint(TAG, NULL, 0));
    kh_ttlv *t = kh_ttlv_new_bigint(TAG, neg, sizeof(neg));
    assert_int_equal(t->len, 8);
    static const uint8_t want[] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01};
    assert_memory_equal(t->data, want, 8);
    roundtrip(t);
    uint8_t v[24];
    for (size_t i = 0; i < sizeof(v); i++)
        v[i] = (uint8_t)(i * 37 + 1);
    roundtrip(kh_ttlv_new_bigint(TAG, v, sizeof(v)));
}

/* Lengths 0..17 cover no padding, every padding size, and a second block. */
static void test_roundtrip_strings_padding(void **state)
{
    (void)state;
    char s[18];
    uint8_t p[18];
    for (size_t n = 0; n <= 17; n++) {
        memset(s, 'a' + (int)n, n);
        s[n] = 0;
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)(0xF0 + i);
        kh_ttlv *t = kh_ttlv_new_text(TAG, s);
        kh_buf b = {0};
        kh_ttlv_encode(t, &b);
        size_t padded = (n + 7) / 8 * 8;
        assert_int_equal(b.len, 8 + padded);
        assert_int_equal(b.data[7], n);
        for (size_t i = n; i < padded; i++)
            assert_int_equal(b.data[8 + i], 0);
        kh_buf_free(&b);
        roundtrip(t);
        roundtrip(kh_ttlv_new_bytes(TAG, p, n));
        roundtrip(kh_ttlv_new_text_n(TAG, s, n));
    }
}

static void test_roundtrip_nested(void **state)
{
    (void)state;
    roundtrip(kh_ttlv_new_struct(TAG));
    roundtrip(sample_message());
    kh_ttlv *root = kh_ttlv_new_struct(TAG);
    kh_ttlv *cur = root;
    for (int i = 1; i < 32; i++) { /* 32 structures: exactly the default limit */
        kh_ttlv_add_take(cur, kh_ttlv_new_int(0x420001, i));
        cur = kh_ttlv_add_take(cur, kh_ttlv_new_struct(0x540000U + (uint32_t)i));
    }
    kh_ttlv_add_take(cur, kh_ttlv_new_text(TAG, "deep"));
    roundtrip(root);
}

static void test_extension_tag(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x54, 0x00, 0x01, 0x02, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 0};
    CHECK_BYTES(kh_ttlv_new_int(0x540001, 7), b);
}

/* ---- malformed input --------------------------------------------------- */

static void test_truncated_prefixes(void **state)
{
    (void)state;
    kh_buf b = {0};
    encode_sample(&b);
    for (size_t n = 0; n < b.len; n++) {
        /* A fresh copy of exactly n bytes, so ASan sees any over-read. */
        uint8_t *p = malloc(n ? n : 1);
        assert_non_null(p);
        memcpy(p, b.data, n);
        expect_decode_err(p, n, &kh_ttlv_default_limits, KH_ERR_DECODE);
        free(p);
    }
    expect_decode_err(NULL, 0, &kh_ttlv_default_limits, KH_ERR_DECODE);
    kh_buf_free(&b);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    static const uint8_t zero8[8];
    static const uint8_t two[] = {0x42, 0, 0x20, 2, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 0,
                                  0x42, 0, 0x20, 2, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 0};
    kh_buf b = {0};
    encode_sample(&b);
    kh_buf_append(&b, zero8, sizeof(zero8));
    expect_decode_err(b.data, b.len, &kh_ttlv_default_limits, KH_ERR_DECODE);
    b.len -= 7; /* one stray byte */
    expect_decode_err(b.data, b.len, &kh_ttlv_default_limits, KH_ERR_DECODE);
    kh_buf_free(&b);
    EXPECT_ERR(two, KH_ERR_DECODE);
}

static void test_wrong_fixed_lengths(void **state)
{
    (void)state;
    static const struct {
        uint8_t type;
        uint32_t len;
    } bad[] = {
        {KH_TTLV_INTEGER, 0},
        {KH_TTLV_INTEGER, 8},
        {KH_TTLV_INTEGER, 3},
        {KH_TTLV_ENUMERATION, 8},
        {KH_TTLV_INTERVAL, 5},
        {KH_TTLV_LONG_INTEGER, 4},
        {KH_TTLV_LONG_INTEGER, 16},
        {KH_TTLV_BOOLEAN, 4},
        {KH_TTLV_BOOLEAN, 1},
        {KH_TTLV_DATE_TIME, 4},
        {KH_TTLV_DATE_TIME_EXTENDED, 16},
        {KH_TTLV_BIG_INTEGER, 12},
        {KH_TTLV_BIG_INTEGER, 1},
        {KH_TTLV_STRUCTURE, 4},
    };
    uint8_t buf[8 + 16];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(buf, 0, sizeof(buf));
        buf[0] = 0x42;
        buf[2] = 0x20;
        buf[3] = bad[i].type;
        put_be32(buf + 4, bad[i].len);
        size_t n = 8 + (bad[i].len + 7) / 8 * 8;
        expect_decode_err(buf, n, &kh_ttlv_default_limits, KH_ERR_DECODE);
    }
}

static void test_nonzero_padding(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x42, 0, 0x20, 2, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 1};
    static const uint8_t en[] = {0x42, 0, 0x20, 5, 0, 0, 0, 4, 0, 0, 0, 8, 0x80, 0, 0, 0};
    static const uint8_t iv[] = {0x42, 0, 0x20, 0x0A, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 1, 0};
    static const uint8_t tx[] = {0x42, 0, 0x20, 7, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, ' '};
    static const uint8_t by[] = {0x42, 0, 0x20, 8, 0, 0, 0, 1, 9, 0, 0, 0, 1, 0, 0, 0};
    EXPECT_ERR(in, KH_ERR_DECODE);
    EXPECT_ERR(en, KH_ERR_DECODE);
    EXPECT_ERR(iv, KH_ERR_DECODE);
    EXPECT_ERR(tx, KH_ERR_DECODE);
    EXPECT_ERR(by, KH_ERR_DECODE);
}

static void test_bad_boolean(void **state)
{
    (void)state;
    static const uint8_t two[] = {0x42, 0, 0x20, 6, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2};
    static const uint8_t high[] = {0x42, 0, 0x20, 6, 0, 0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t ff[] = {0x42, 0,    0x20, 6,    0,    0,    0,    8,
                                 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    EXPECT_ERR(two, KH_ERR_DECODE);
    EXPECT_ERR(high, KH_ERR_DECODE);
    EXPECT_ERR(ff, KH_ERR_DECODE);
}

static void test_unknown_type(void **state)
{
    (void)state;
    static const uint8_t types[] = {0x00, 0x0C, 0x0D, 0x10, 0x42, 0x80, 0xFF};
    uint8_t b[] = {0x42, 0, 0x20, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof(types); i++) {
        b[3] = types[i];
        EXPECT_ERR(b, KH_ERR_DECODE);
    }
    /* Also inside a structure. */
    uint8_t s[] = {0x42, 0, 0x20, 1, 0, 0, 0, 8, 0x42, 0, 0x21, 0x0C, 0, 0, 0, 0};
    EXPECT_ERR(s, KH_ERR_DECODE);
}

static void test_bad_tag(void **state)
{
    (void)state;
    static const uint8_t firsts[] = {0x00, 0x41, 0x43, 0x53, 0x55, 0xFF};
    uint8_t b[] = {0x42, 0, 0x20, 2, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof(firsts); i++) {
        b[0] = firsts[i];
        EXPECT_ERR(b, KH_ERR_DECODE);
    }
    uint8_t s[] = {0x42, 0, 0x20, 1, 0, 0, 0, 16, 0x43, 0, 0x20, 2,
                   0,    0, 0,    4, 0, 0, 0, 8,  0,    0, 0,    0};
    EXPECT_ERR(s, KH_ERR_DECODE);
}

static void test_text_embedded_nul(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x42, 0, 0x20, 7, 0, 0, 0, 3, 'a', 0, 'c', 0, 0, 0, 0, 0};
    EXPECT_ERR(b, KH_ERR_DECODE);
    /* A ByteString may hold zeros. */
    static const uint8_t ok[] = {0x42, 0, 0x20, 8, 0, 0, 0, 3, 'a', 0, 'c', 0, 0, 0, 0, 0};
    kh_ttlv *t = decode_ok(ok, sizeof(ok));
    assert_int_equal(t->len, 3);
    kh_ttlv_free(&t);
}

static void test_structure_length_mismatch(void **state)
{
    (void)state;
    /* Claims 8 bytes, child needs 16. */
    static const uint8_t shorter[] = {0x42, 0, 0x20, 1, 0, 0, 0, 8, 0x42, 0, 0x21, 2,
                                      0,    0, 0,    4, 0, 0, 0, 1, 0,    0, 0,    0};
    /* Claims 24 bytes, child uses 16, 8 bytes of zeros left over. */
    static const uint8_t longer[] = {0x42, 0, 0x20, 1, 0, 0, 0, 24, 0x42, 0, 0x21, 2, 0, 0, 0, 4,
                                     0,    0, 0,    1, 0, 0, 0, 0,  0,    0, 0,    0, 0, 0, 0, 0};
    /* Claims 16 bytes but holds a 24-byte text item. */
    static const uint8_t inner[] = {0x42, 0,   0x20, 1, 0, 0,   0,   16,  0x42, 0,   0x21,
                                    7,    0,   0,    0, 9, 'a', 'b', 'c', 'd',  'e', 'f',
                                    'g',  'h', 'i',  0, 0, 0,   0,   0,   0,    0};
    EXPECT_ERR(shorter, KH_ERR_DECODE);
    EXPECT_ERR(longer, KH_ERR_DECODE);
    EXPECT_ERR(inner, KH_ERR_DECODE);
    /* The outer structure claims more than the buffer holds. */
    expect_decode_err(longer, sizeof(longer) - 8, &kh_ttlv_default_limits, KH_ERR_DECODE);
}

/* depth nested structures, built without recursion: each header's length is
 * what follows it. */
static uint8_t *nested_bytes(size_t depth, size_t *n)
{
    *n = depth * 8;
    uint8_t *b = calloc(*n, 1);
    assert_non_null(b);
    for (size_t i = 0; i < depth; i++) {
        uint8_t *h = b + i * 8;
        h[0] = 0x42;
        h[2] = 0x20;
        h[3] = KH_TTLV_STRUCTURE;
        put_be32(h + 4, (uint32_t)((depth - i - 1) * 8));
    }
    return b;
}

static void test_depth_bomb(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = nested_bytes(10000, &n);
    expect_decode_err(b, n, &kh_ttlv_default_limits, KH_ERR_TOO_DEEP);
    free(b);
    b = nested_bytes(33, &n);
    expect_decode_err(b, n, &kh_ttlv_default_limits, KH_ERR_TOO_DEEP);
    free(b);
    b = nested_bytes(32, &n);
    kh_ttlv *t = decode_ok(b, n);
    kh_ttlv_free(&t);
    kh_ttlv_limits lim = {.max_message = 1 << 20, .max_depth = 4, .max_items = 100};
    expect_decode_err(b, n, &lim, KH_ERR_TOO_DEEP);
    free(b);
}

static void test_size_bomb(void **state)
{
    (void)state;
    size_t total = 0;
    uint8_t b[16] = {0x42, 0, 0x20, 1};
    put_be32(b + 4, 100u * 1000 * 1000);
    expect_decode_err(b, 8, &kh_ttlv_default_limits, KH_ERR_TOO_LARGE);
    expect_decode_err(b, 16, &kh_ttlv_default_limits, KH_ERR_TOO_LARGE);
    assert_int_equal(kh_ttlv_frame_len(b, kh_ttlv_default_limits.max_message, &total),
                     KH_ERR_TOO_LARGE);
    assert_int_equal(total, 0);
    put_be32(b + 4, UINT32_MAX);
    expect_decode_err(b, 8, &kh_ttlv_default_limits, KH_ERR_TOO_LARGE);
    /* A buffer over the limit is refused whatever it holds. */
    kh_buf big = {0};
    kh_ttlv *s = kh_ttlv_new_struct(TAG);
    uint8_t *blob = calloc(1, 1 << 20);
    assert_non_null(blob);
    kh_ttlv_add_take(s, kh_ttlv_new_bytes(TAG, blob, 1 << 20));
    free(blob);
    kh_ttlv_encode(s, &big);
    kh_ttlv_free(&s);
    expect_decode_err(big.data, big.len, &kh_ttlv_default_limits, KH_ERR_TOO_LARGE);
    kh_ttlv_limits lim = kh_ttlv_default_limits;
    lim.max_message = big.len;
    kh_ttlv *t = NULL;
    assert_int_equal(kh_ttlv_decode(big.data, big.len, &lim, &t), KH_OK);
    kh_ttlv_free(&t);
    lim.max_message = big.len - 1;
    expect_decode_err(big.data, big.len, &lim, KH_ERR_TOO_LARGE);
    kh_buf_free(&big);
}

/* A structure of n empty ByteStrings: 8 bytes an item. */
static uint8_t *flat_bytes(size_t nitems, size_t *n)
{
    *n = 8 + nitems * 8;
    uint8_t *b = calloc(*n, 1);
    assert_non_null(b);
    b[0] = 0x42;
    b[2] = 0x20;
    b[3] = KH_TTLV_STRUCTURE;
    put_be32(b + 4, (uint32_t)(nitems * 8));
    for (size_t i = 0; i < nitems; i++) {
        b[8 + i * 8] = 0x42;
        b[8 + i * 8 + 2] = 0x21;
        b[8 + i * 8 + 3] = KH_TTLV_BYTE_STRING;
    }
    return b;
}

static void test_item_count_bomb(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = flat_bytes(100000, &n); /* 800 KB: under max_message */
    assert_true(n <= kh_ttlv_default_limits.max_message);
    expect_decode_err(b, n, &kh_ttlv_default_limits, KH_ERR_TOO_LARGE);
    free(b);
    /* Boundary: the root counts as an item. */
    kh_ttlv_limits lim = {.max_message = 1 << 20, .max_depth = 32, .max_items = 10};
    b = flat_bytes(9, &n);
    kh_ttlv *t = NULL;
    assert_int_equal(kh_ttlv_decode(b, n, &lim, &t), KH_OK);
    assert_int_equal(t->nkids, 9);
    kh_ttlv_free(&t);
    free(b);
    b = flat_bytes(10, &n);
    expect_decode_err(b, n, &lim, KH_ERR_TOO_LARGE);
    free(b);
}

static void test_frame_len(void **state)
{
    (void)state;
    size_t total = 0;
    uint8_t h[8] = {0x42, 0, 0x78, 1, 0, 0, 0, 0x20};
    assert_int_equal(kh_ttlv_frame_len(h, 1 << 20, &total), KH_OK);
    assert_int_equal(total, 40);
    assert_int_equal(kh_ttlv_frame_len(h, 40, &total), KH_OK);
    total = 0;
    assert_int_equal(kh_ttlv_frame_len(h, 39, &total), KH_ERR_TOO_LARGE);
    assert_int_equal(total, 0);
    h[0] = 0x54;
    assert_int_equal(kh_ttlv_frame_len(h, 1 << 20, &total), KH_OK);
    h[0] = 0x43;
    assert_int_equal(kh_ttlv_frame_len(h, 1 << 20, &total), KH_ERR_DECODE);
    h[0] = 0x42;
    h[3] = KH_TTLV_INTEGER;
    assert_int_equal(kh_ttlv_frame_len(h, 1 << 20, &total), KH_ERR_DECODE);
    h[3] = 0x00;
    assert_int_equal(kh_ttlv_frame_len(h, 1 << 20, &total), KH_ERR_DECODE);
    h[3] = KH_TTLV_STRUCTURE;
    h[7] = 0x21;
    assert_int_equal(kh_ttlv_frame_len(h, 1 << 20, &total), KH_ERR_DECODE);
    put_be32(h + 4, 0);
    assert_int_equal(kh_ttlv_frame_len(h, 8, &total), KH_OK);
    assert_int_equal(total, 8);
    put_be32(h + 4, 0xFFFFFFF8U);
    assert_int_equal(kh_ttlv_frame_len(h, SIZE_MAX, &total), KH_OK);
    assert_true((uint64_t)total == 0x100000000ULL);
    assert_int_equal(kh_ttlv_frame_len(h, 1 << 20, &total), KH_ERR_TOO_LARGE);
}

/* ---- tree API ---------------------------------------------------------- */

static void test_tree_api(void **state)
{
    (void)state;
    kh_ttlv *s = kh_ttlv_new_struct(TAG);
    for (int i = 0; i < 10; i++)
        kh_ttlv_add_take(s, kh_ttlv_new_int(0x420001U + (uint32_t)(i % 2), i));
    kh_ttlv_add_take(s, kh_ttlv_new_enum(0x420003, 3));
    kh_ttlv_add_take(s, kh_ttlv_new_text(0x420004, "x"));
    assert_int_equal(kh_ttlv_count(s, 0x420001), 5);
    assert_int_equal(kh_ttlv_count(NULL, 0x420001), 0);
    assert_int_equal(kh_ttlv_find_nth(s, 0x420002, 2)->num, 5);
    assert_null(kh_ttlv_find_nth(s, 0x420002, 5));
    assert_null(kh_ttlv_find(NULL, 0x420002));
    int32_t i32 = 99;
    uint32_t u32 = 99;
    const char *str = NULL;
    assert_int_equal(kh_ttlv_get_int(s, 0x420002, &i32), KH_OK);
    assert_int_equal(i32, 1);
    assert_int_equal(kh_ttlv_get_enum(s, 0x420003, &u32), KH_OK);
    assert_int_equal(u32, 3);
    assert_int_equal(kh_ttlv_get_text(s, 0x420004, &str), KH_OK);
    assert_string_equal(str, "x");
    u32 = 99;
    assert_int_equal(kh_ttlv_get_enum(s, 0x420001, &u32), KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_ttlv_get_enum(s, 0x420099, &u32), KH_ERR_MISSING_DATA);
    assert_int_equal(u32, 99);
    assert_int_equal(kh_ttlv_get_text(s, 0x420003, &str), KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_ttlv_get_int(NULL, 0x420003, &i32), KH_ERR_MISSING_DATA);

    kh_ttlv *c = kh_ttlv_dup(s);
    assert_true(kh_ttlv_equal(s, c));
    kh_ttlv_remove(c, 0);
    assert_false(kh_ttlv_equal(s, c));
    assert_int_equal(c->nkids, 11);
    assert_int_equal(c->kids[0]->num, 1);
    kh_ttlv_remove(c, 10);
    kh_ttlv_remove(c, 100); /* out of range: no effect */
    assert_int_equal(c->nkids, 10);
    kh_ttlv_free(&c);
    assert_null(c);
    kh_ttlv_free(&c);
    kh_ttlv_free(NULL);
    kh_ttlv_free(&s);
}

static void test_equal(void **state)
{
    (void)state;
    kh_ttlv *a = kh_ttlv_new_text(TAG, "abc");
    kh_ttlv *b = kh_ttlv_new_bytes(TAG, (const uint8_t *)"abc", 3);
    kh_ttlv *c = kh_ttlv_new_text(TAG, "abd");
    kh_ttlv *d = kh_ttlv_new_text(TAG + 1, "abc");
    assert_false(kh_ttlv_equal(a, b)); /* type differs */
    assert_false(kh_ttlv_equal(a, c)); /* value differs */
    assert_false(kh_ttlv_equal(a, d)); /* tag differs */
    assert_false(kh_ttlv_equal(a, NULL));
    assert_true(kh_ttlv_equal(NULL, NULL));
    kh_ttlv *e = kh_ttlv_new_int(TAG, 1);
    kh_ttlv *f = kh_ttlv_new_int(TAG, 2);
    assert_false(kh_ttlv_equal(e, f));
    kh_ttlv *g = kh_ttlv_new_struct(TAG);
    kh_ttlv *h = kh_ttlv_new_struct(TAG);
    kh_ttlv_add_take(g, kh_ttlv_new_int(TAG, 1));
    assert_false(kh_ttlv_equal(g, h));
    kh_ttlv_add_take(h, kh_ttlv_new_int(TAG, 2));
    assert_false(kh_ttlv_equal(g, h));
    kh_ttlv *all[] = {a, b, c, d, e, f, g, h};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        kh_ttlv_free(&all[i]);
}

/* A TextString item holding the given (8 or fewer) bytes. */
static void text_item(const uint8_t *v, size_t n, uint8_t out[16])
{
    uint8_t hdr[8] = {0x42, 0x00, 0x55, 0x07, 0, 0, 0, (uint8_t)n};
    memset(out, 0, 16);
    memcpy(out, hdr, 8);
    memcpy(out + 8, v, n);
}

static void test_text_must_be_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t n;
        int ok;
    } cases[] = {
        {"plain", 5, 1},
        {"\xc3\xa9t\xc3\xa9", 5, 1}, /* été */
        {"\xe2\x82\xac", 3, 1},      /* € */
        {"\xf0\x9f\x94\x91", 4, 1},  /* key emoji */
        {"\xc3", 1, 0},              /* truncated */
        {"\xc0\xaf", 2, 0},          /* overlong '/' */
        {"\xed\xa0\x80", 3, 0},      /* surrogate */
        {"\xf4\x90\x80\x80", 4, 0},  /* past U+10FFFF */
        {"\xff", 1, 0},              /* never valid */
        {"a\x80", 2, 0},             /* stray continuation */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t item[16];
        text_item((const uint8_t *)cases[i].bytes, cases[i].n, item);
        kh_ttlv *t = NULL;
        kh_err err = kh_ttlv_decode(item, sizeof(item), &kh_ttlv_default_limits, &t);
        assert_int_equal(err, cases[i].ok ? KH_OK : KH_ERR_DECODE);
        kh_ttlv_free(&t);
    }
}

static void test_null_limits_and_text_null(void **state)
{
    (void)state;
    kh_ttlv *t = kh_ttlv_new_text(TAG, NULL);
    assert_int_equal(t->len, 0);
    assert_non_null(t->data);
    kh_buf b = {0};
    kh_ttlv_encode(t, &b);
    kh_ttlv *d = NULL;
    assert_int_equal(kh_ttlv_decode(b.data, b.len, NULL, &d), KH_OK);
    assert_true(kh_ttlv_equal(t, d));
    assert_string_equal((const char *)d->data, "");
    kh_ttlv_free(&d);
    kh_ttlv_free(&t);
    kh_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_integer),
        cmocka_unit_test(test_spec_long_integer),
        cmocka_unit_test(test_spec_big_integer),
        cmocka_unit_test(test_spec_enumeration),
        cmocka_unit_test(test_spec_boolean),
        cmocka_unit_test(test_spec_text_string),
        cmocka_unit_test(test_spec_byte_string),
        cmocka_unit_test(test_spec_date_time),
        cmocka_unit_test(test_spec_interval),
        cmocka_unit_test(test_vector_date_time_extended),
        cmocka_unit_test(test_spec_structure),
        cmocka_unit_test(test_roundtrip_numbers),
        cmocka_unit_test(test_decode_values),
        cmocka_unit_test(test_roundtrip_big_integer),
        cmocka_unit_test(test_roundtrip_strings_padding),
        cmocka_unit_test(test_roundtrip_nested),
        cmocka_unit_test(test_extension_tag),
        cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_wrong_fixed_lengths),
        cmocka_unit_test(test_nonzero_padding),
        cmocka_unit_test(test_bad_boolean),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_bad_tag),
        cmocka_unit_test(test_text_embedded_nul),
        cmocka_unit_test(test_structure_length_mismatch),
        cmocka_unit_test(test_depth_bomb),
        cmocka_unit_test(test_size_bomb),
        cmocka_unit_test(test_item_count_bomb),
        cmocka_unit_test(test_frame_len),
        cmocka_unit_test(test_tree_api),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_null_limits_and_text_null),
        cmocka_unit_test(test_text_must_be_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
