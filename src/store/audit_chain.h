/*
 * audit_chain.h - the canonical encoding and hash of an audit row.
 *
 * Shared by the backends (which compute a row's hash while they hold the
 * chain head) and by `keyhold audit verify` (which recomputes them). The
 * encoding is documented for operators in docs/audit.md; changing it breaks
 * every existing chain, so it carries a version tag.
 */
#ifndef KH_STORE_AUDIT_CHAIN_H
#define KH_STORE_AUDIT_CHAIN_H

#include "common/buf.h"
#include "common/err.h"
#include "store/store.h"

#include <stdint.h>

/* Longest string field of an audit row, in bytes. */
#define KH_AUDIT_FIELD_MAX 1024

/* Append the canonical encoding of row (its id and fields, not its hash)
 * to out. */
void kh_audit_canonical(const kh_audit_row *row, kh_buf *out);
/* out = SHA-256(prev || canonical(row)). */
kh_err kh_audit_chain_hash(const uint8_t prev[KH_AUDIT_HASH_LEN], const kh_audit_row *row,
                           uint8_t out[KH_AUDIT_HASH_LEN]) KH_MUST_CHECK;

/* The same hash in two steps, so that the encoding runs outside the chain's
 * lock and only a SHA-256 of a few hundred bytes inside it: prepare writes
 * 32 placeholder bytes || canonical(row with id 0) to out (cleared first);
 * seal writes prev and id into that buffer and hashes it into out.
 * seal(prepare(row), prev, row->id) == kh_audit_chain_hash(prev, row). */
void kh_audit_chain_prepare(const kh_audit_row *row, kh_buf *out);
kh_err kh_audit_chain_seal(kh_buf *prepared, const uint8_t prev[KH_AUDIT_HASH_LEN], int64_t id,
                           uint8_t out[KH_AUDIT_HASH_LEN]) KH_MUST_CHECK;

#endif
