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

kh_err kh_audit_chain_hash(const uint8_t prev[KH_AUDIT_HASH_LEN], const kh_audit_row *row,
                           uint8_t out[KH_AUDIT_HASH_LEN])
{
    kh_buf b = {0};
    kh_buf_append(&b, prev, KH_AUDIT_HASH_LEN);
    kh_audit_canonical(row, &b);
    kh_err err = kh_sha256(b.data, b.len, out);
    kh_buf_free(&b);
    return err;
}
