/*
 * bench_msgs.c - KMIP 1.2 requests for the load generator, the ceiling
 * server's fixed reply, and the little reply parsing the generator needs.
 *
 * Field order follows the KMIP 1.2 specification exactly, because PyKMIP's
 * decoder reads structures in order and rejects anything else.
 */
#include "bench/bench_msgs.h"

#include "common/mem.h"
#include "proto/kmip_consts.h"
#include "proto/ttlv.h"

#include <string.h>

static kh_ttlv *version_1_2(void)
{
    kh_ttlv *pv = kh_ttlv_new_struct(KH_TAG_PROTOCOL_VERSION);
    kh_ttlv_add_take(pv, kh_ttlv_new_int(KH_TAG_PROTOCOL_VERSION_MAJOR, 1));
    kh_ttlv_add_take(pv, kh_ttlv_new_int(KH_TAG_PROTOCOL_VERSION_MINOR, 2));
    return pv;
}

/* Wrap payload (taken) into a one-item RequestMessage and encode it. */
static void request(kh_buf *out, uint32_t operation, kh_ttlv *payload)
{
    kh_ttlv *msg = kh_ttlv_new_struct(KH_TAG_REQUEST_MESSAGE);
    kh_ttlv *hdr = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_REQUEST_HEADER));
    kh_ttlv_add_take(hdr, version_1_2());
    kh_ttlv_add_take(hdr, kh_ttlv_new_int(KH_TAG_BATCH_COUNT, 1));
    kh_ttlv *item = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_BATCH_ITEM));
    kh_ttlv_add_take(item, kh_ttlv_new_enum(KH_TAG_OPERATION, operation));
    kh_ttlv_add_take(item, payload);
    kh_buf_clear(out);
    kh_ttlv_encode(msg, out);
    kh_ttlv_free(&msg);
}

/* A KMIP 1.x Attribute{AttributeName, AttributeValue}; value's tag is
 * replaced. */
static kh_ttlv *attribute(const char *name, kh_ttlv *value)
{
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTE);
    kh_ttlv_add_take(a, kh_ttlv_new_text(KH_TAG_ATTRIBUTE_NAME, name));
    value->tag = KH_TAG_ATTRIBUTE_VALUE;
    kh_ttlv_add_take(a, value);
    return a;
}

static kh_ttlv *name_attribute(const char *name)
{
    kh_ttlv *v = kh_ttlv_new_struct(KH_TAG_ATTRIBUTE_VALUE);
    kh_ttlv_add_take(v, kh_ttlv_new_text(KH_TAG_NAME_VALUE, name));
    kh_ttlv_add_take(v, kh_ttlv_new_enum(KH_TAG_NAME_TYPE, KH_NAME_TYPE_UNINTERPRETED_TEXT_STRING));
    return attribute("Name", v);
}

void kh_bench_req_create(kh_buf *out, const char *name)
{
    kh_ttlv *p = kh_ttlv_new_struct(KH_TAG_REQUEST_PAYLOAD);
    kh_ttlv_add_take(p, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, KH_OBJECT_TYPE_SYMMETRIC_KEY));
    kh_ttlv *ta = kh_ttlv_add_take(p, kh_ttlv_new_struct(KH_TAG_TEMPLATE_ATTRIBUTE));
    kh_ttlv_add_take(ta, attribute("Cryptographic Algorithm",
                                   kh_ttlv_new_enum(0, KH_CRYPTOGRAPHIC_ALGORITHM_AES)));
    kh_ttlv_add_take(ta, attribute("Cryptographic Length", kh_ttlv_new_int(0, 256)));
    kh_ttlv_add_take(ta, attribute("Cryptographic Usage Mask",
                                   kh_ttlv_new_int(0, KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT |
                                                          KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT)));
    if (name)
        kh_ttlv_add_take(ta, name_attribute(name));
    request(out, KH_OPERATION_CREATE, p);
}

static void uid_only(kh_buf *out, uint32_t operation, const char *uid)
{
    kh_ttlv *p = kh_ttlv_new_struct(KH_TAG_REQUEST_PAYLOAD);
    kh_ttlv_add_take(p, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, uid));
    request(out, operation, p);
}

void kh_bench_req_get(kh_buf *out, const char *uid)
{
    uid_only(out, KH_OPERATION_GET, uid);
}

void kh_bench_req_activate(kh_buf *out, const char *uid)
{
    uid_only(out, KH_OPERATION_ACTIVATE, uid);
}

void kh_bench_req_encrypt(kh_buf *out, const char *uid, size_t n)
{
    uint8_t *data = kh_xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    kh_ttlv *p = kh_ttlv_new_struct(KH_TAG_REQUEST_PAYLOAD);
    kh_ttlv_add_take(p, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, uid));
    kh_ttlv *cp = kh_ttlv_add_take(p, kh_ttlv_new_struct(KH_TAG_CRYPTOGRAPHIC_PARAMETERS));
    kh_ttlv_add_take(cp, kh_ttlv_new_enum(KH_TAG_BLOCK_CIPHER_MODE, KH_BLOCK_CIPHER_MODE_GCM));
    kh_ttlv_add_take(
        cp, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, KH_CRYPTOGRAPHIC_ALGORITHM_AES));
    kh_ttlv_add_take(cp, kh_ttlv_new_int(KH_TAG_TAG_LENGTH, 16));
    kh_ttlv_add_take(p, kh_ttlv_new_bytes(KH_TAG_DATA, data, n));
    free(data);
    request(out, KH_OPERATION_ENCRYPT, p);
}

void kh_bench_req_locate(kh_buf *out, const char *name)
{
    kh_ttlv *p = kh_ttlv_new_struct(KH_TAG_REQUEST_PAYLOAD);
    kh_ttlv_add_take(p, name_attribute(name));
    request(out, KH_OPERATION_LOCATE, p);
}

void kh_bench_fixed_reply(kh_buf *out)
{
    static const uint8_t key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    kh_ttlv *msg = kh_ttlv_new_struct(KH_TAG_RESPONSE_MESSAGE);
    kh_ttlv *hdr = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_RESPONSE_HEADER));
    kh_ttlv_add_take(hdr, version_1_2());
    kh_ttlv_add_take(hdr, kh_ttlv_new_datetime(KH_TAG_TIME_STAMP, 1700000000));
    kh_ttlv_add_take(hdr, kh_ttlv_new_int(KH_TAG_BATCH_COUNT, 1));
    kh_ttlv *bi = kh_ttlv_add_take(msg, kh_ttlv_new_struct(KH_TAG_BATCH_ITEM));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_OPERATION, KH_OPERATION_GET));
    kh_ttlv_add_take(bi, kh_ttlv_new_enum(KH_TAG_RESULT_STATUS, KH_RESULT_STATUS_SUCCESS));
    kh_ttlv *p = kh_ttlv_add_take(bi, kh_ttlv_new_struct(KH_TAG_RESPONSE_PAYLOAD));
    kh_ttlv_add_take(p, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, KH_OBJECT_TYPE_SYMMETRIC_KEY));
    kh_ttlv_add_take(
        p, kh_ttlv_new_text(KH_TAG_UNIQUE_IDENTIFIER, "7f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f"));
    kh_ttlv *sk = kh_ttlv_add_take(p, kh_ttlv_new_struct(KH_TAG_SYMMETRIC_KEY));
    kh_ttlv *kb = kh_ttlv_add_take(sk, kh_ttlv_new_struct(KH_TAG_KEY_BLOCK));
    kh_ttlv_add_take(kb, kh_ttlv_new_enum(KH_TAG_KEY_FORMAT_TYPE, KH_KEY_FORMAT_TYPE_RAW));
    kh_ttlv *kv = kh_ttlv_add_take(kb, kh_ttlv_new_struct(KH_TAG_KEY_VALUE));
    kh_ttlv_add_take(kv, kh_ttlv_new_bytes(KH_TAG_KEY_MATERIAL, key, sizeof(key)));
    kh_ttlv_add_take(
        kb, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, KH_CRYPTOGRAPHIC_ALGORITHM_AES));
    kh_ttlv_add_take(kb, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, 256));
    kh_buf_clear(out);
    kh_ttlv_encode(msg, out);
    kh_ttlv_free(&msg);
}

/* ---- reply parsing ------------------------------------------------------ */

typedef struct item {
    uint32_t tag;
    uint8_t type;
    const uint8_t *value;
    size_t len;  /* value length */
    size_t span; /* header + padded value */
} item;

static int item_at(const uint8_t *p, size_t avail, item *it)
{
    if (avail < 8)
        return -1;
    it->tag = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
    it->type = p[3];
    it->len = ((size_t)p[4] << 24) | ((size_t)p[5] << 16) | ((size_t)p[6] << 8) | p[7];
    size_t padded = (it->len + 7) & ~(size_t)7;
    if (padded < it->len || padded > avail - 8)
        return -1;
    it->value = p + 8;
    it->span = 8 + padded;
    return 0;
}

/* The first direct child of structure s with tag. */
static int child(const item *s, uint32_t tag, item *out)
{
    size_t off = 0;
    while (off < s->len) {
        if (item_at(s->value + off, s->len - off, out) != 0)
            return -1;
        if (out->tag == tag)
            return 0;
        off += out->span;
    }
    return -1;
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int first_batch_item(const uint8_t *msg, size_t len, item *bi)
{
    item m;
    if (item_at(msg, len, &m) != 0 || m.tag != KH_TAG_RESPONSE_MESSAGE ||
        m.type != KH_TTLV_STRUCTURE)
        return -1;
    return child(&m, KH_TAG_BATCH_ITEM, bi);
}

int kh_bench_result(const uint8_t *msg, size_t len, uint32_t *status, uint32_t *reason)
{
    item bi, st, rr;
    if (first_batch_item(msg, len, &bi) != 0 || child(&bi, KH_TAG_RESULT_STATUS, &st) != 0 ||
        st.type != KH_TTLV_ENUMERATION || st.len != 4)
        return -1;
    *status = be32(st.value);
    *reason = 0;
    if (child(&bi, KH_TAG_RESULT_REASON, &rr) == 0 && rr.type == KH_TTLV_ENUMERATION && rr.len == 4)
        *reason = be32(rr.value);
    return 0;
}

char *kh_bench_result_uid(const uint8_t *msg, size_t len)
{
    item bi, p, u;
    if (first_batch_item(msg, len, &bi) != 0 || child(&bi, KH_TAG_RESPONSE_PAYLOAD, &p) != 0 ||
        child(&p, KH_TAG_UNIQUE_IDENTIFIER, &u) != 0 || u.type != KH_TTLV_TEXT_STRING)
        return NULL;
    return kh_xstrndup((const char *)u.value, u.len);
}
