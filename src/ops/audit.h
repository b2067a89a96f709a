/*
 * audit.h - the hash-chained audit log: recording operations, verifying
 * the chain.
 *
 * Each row says when, who (principal), from where (client address), what
 * (operation), on which object (uid or ""), with what result (kh_err name).
 * Nothing else: never attributes, never key material. The store chains
 * each row to the previous one (store/audit_chain.h, docs/audit.md).
 */
#ifndef KH_OPS_AUDIT_H
#define KH_OPS_AUDIT_H

#include "common/err.h"
#include "ops/ops.h"
#include "store/store.h"

#include <stdint.h>

/* Append one row for an operation run by ctx, durably, before the caller
 * answers (with ctx->svc->audit_reads_sync_later, rows of read-only
 * operations are committed but may be fsync'd just after: docs/audit.md). Never fails the caller's
 * operation: a failed append is retried, then logged as an error. Does nothing unless
 * ctx->svc->audit. Returns the append's outcome (for tests). Control bytes and non-ASCII in the
 * fields are stored as '?', and fields are cut at KH_AUDIT_FIELD_MAX. */
kh_err kh_audit_record(const kh_ctx *ctx, const char *operation, const char *object_uid,
                       kh_err result);

typedef struct kh_audit_report {
    int64_t rows;      /* rows that verified, in order, before any break */
    int64_t broken_id; /* first row that does not verify; 0 = chain intact */
    char reason[128];  /* why broken_id fails */
} kh_audit_report;

/* Walk the whole chain. KH_OK when it could be read (then look at
 * out->broken_id); a store error otherwise. */
kh_err kh_audit_verify(kh_store *s, kh_audit_report *out) KH_MUST_CHECK;

#endif
