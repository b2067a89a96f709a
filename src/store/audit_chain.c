/*
 * audit_chain.c - canonical encoding and chaining of audit rows.
 *
 * canonical(row) = "KHAUDIT1"
 *                  || u64be(id) || u64be(time_us)
 *                  || for principal, client_addr, operation, object_uid,
 *                     result in that order: u32be(byte length) || bytes
 * hash(row)      = SHA-256(hash(previous row) || canonical(row)), with 32
 *                  zero bytes before the first row.
 * Lengths make the encoding unambiguous ("ab"+"c" differs from "a"+"bc").
 */
#include "store/audit_chain.h"

#include "crypto/digest.h"

#include <string.h>

static void put_str(kh_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    kh_buf_append_be32(b, (uint32_t)n);
    if (n)
        kh_buf_append(b, s, n);
}

void kh_audit_canonical(const kh_audit_row *row, kh_buf *out)
{
    kh_buf_append(out, "KHAUDIT1", 8);
    kh_buf_append_be64(out, (uint64_t)row->id);
    kh_buf_append_be64(out, (uint64_t)row->time_us);
    put_str(out, row->principal);
    put_str(out, row->client_addr);
    put_str(out, row->operation);
    put_str(out, row->object_uid);
    put_str(out, row->result);
}

/* Offsets into a prepared row: prev hash, then "KHAUDIT1", then the id. */
#define PREP_ID_AT (KH_AUDIT_HASH_LEN + 8)

void kh_audit_chain_prepare(const kh_audit_row *row, kh_buf *out)
{
    static const uint8_t zeros[KH_AUDIT_HASH_LEN] = {0};
    kh_audit_row r = *row;
    r.id = 0;
    kh_buf_clear(out);
    const char *f[] = {r.principal, r.client_addr, r.operation, r.object_uid, r.result};
    size_t need = KH_AUDIT_HASH_LEN + 8 + 16;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        need += 4 + (f[i] ? strlen(f[i]) : 0);
    kh_buf_reserve(out, need);
    kh_buf_append(out, zeros, KH_AUDIT_HASH_LEN);
    kh_audit_canonical(&r, out);
}

kh_err kh_audit_chain_seal(kh_buf *prepared, const uint8_t prev[KH_AUDIT_HASH_LEN], int64_t id,
                           uint8_t out[KH_AUDIT_HASH_LEN])
{
    if (prepared->len < PREP_ID_AT + 8)
        return KH_ERR_INTERNAL;
    memcpy(prepared->data, prev, KH_AUDIT_HASH_LEN);
    uint64_t v = (uint64_t)id;
    for (int i = 7; i >= 0; i--, v >>= 8)
        prepared->data[PREP_ID_AT + i] = (uint8_t)(v & 0xff);
    return kh_sha256(prepared->data, prepared->len, out);
}

kh_err kh_audit_chain_hash(const uint8_t prev[KH_AUDIT_HASH_LEN], const kh_audit_row *row,
                           uint8_t out[KH_AUDIT_HASH_LEN])
{
    kh_buf b = {0};
    kh_audit_chain_prepare(row, &b);
    kh_err err = kh_audit_chain_seal(&b, prev, row->id, out);
    kh_buf_free(&b);
    return err;
}
