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
#include "store/audit_chain.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* Append one row for an operation run by ctx, durably, before the caller
 * answers (with ctx->svc->audit_reads_sync_later, rows of read-only
 * operations are committed but may be fsync'd just after: docs/audit.md). Never fails the caller's
 * operation: a failed append is retried, then logged as an error. Does nothing unless
 * ctx->svc->audit. Returns the append's outcome (for tests). Control bytes and non-ASCII in the
 * fields are stored as '?', and fields are cut at KH_AUDIT_FIELD_MAX.
 * Inside a worker's request (common/defer.h: a current kh_defer) it does not wait: the row is
 * queued, the request's reply is held until it is committed, and KH_OK is returned. */
kh_err kh_audit_record(const kh_ctx *ctx, const char *operation, const char *object_uid,
                       kh_err result);

/* ---- one commit for an operation's write and its row ------------------
 *
 * A state-changing operation used to wait for two fsync'd commits: its
 * object write, then its audit row. Instead the protocol layer prepares the
 * row before running the operation (kh_audit_prepare) and points
 * ctx->audit at it; the operation's write (ops/object.c: insert,
 * insert_many, save) hands it to the store, which appends it in the same
 * transaction if and only if the write succeeds (store.h, *_audited).
 * kh_audit_finish then appends the row only if no write carried it: for a
 * read, a refusal, or a failure, exactly as before. So every operation is
 * still recorded exactly once, durably, before the reply.
 *
 * A write may carry the row only when the operation cannot fail after it.
 * An operation with several writes (ReKey: insert the new key, then link
 * the old one) holds the row back from all but its last write
 * (kh_audit_hold / kh_audit_release); if a later write fails, the failure
 * row is appended by kh_audit_finish as before.
 *
 * The row's object, unless the request named one: the object the
 * operation inserted when it inserted exactly one, else none when it
 * inserted several (CreateKeyPair), else the object its write updated -
 * the uid KMIP's response names, as kh_audit_record's callers chose it. */
typedef struct kh_audit_pending {
    kh_audit_row row;
    char field[5][KH_AUDIT_FIELD_MAX + 1]; /* the row's strings */
    bool active;                           /* auditing is on */
    bool uid_fixed;                        /* the request named the object */
    bool written;                          /* a write carried the row: finish appends nothing */
    int held;                              /* > 0: writes do not carry the row (kh_audit_hold) */
    size_t inserted;                       /* objects inserted so far by the operation */
} kh_audit_pending;

/* Fill p for operation by ctx on object_uid (NULL: decided by the write,
 * above). The caller then sets ctx->audit = p for the operation. */
void kh_audit_prepare(const kh_ctx *ctx, kh_audit_pending *p, const char *operation,
                      const char *object_uid);
/* After the operation (with ctx->audit cleared): append the row for
 * result unless a write carried it; the arguments are those
 * kh_audit_record takes. A carried row and a failed result (a bug) are
 * both logged: the second row is appended too. */
kh_err kh_audit_finish(const kh_ctx *ctx, kh_audit_pending *p, const char *operation,
                       const char *object_uid, kh_err result);
/* For the operations' writes (ops/object.c, the KES name claim): the row a
 * write of inserted[0..n) (n = 0 for an update of updated, or for another
 * write when both are 0/NULL) should carry, or NULL; then kh_audit_carried
 * with the write's result. */
kh_audit_row *kh_audit_carry(kh_ctx *ctx, const kh_obj_row *const *inserted, size_t n,
                             const kh_obj_row *updated);
void kh_audit_carried(kh_ctx *ctx, const kh_audit_row *row, kh_err result);
/* Keep the row off the writes until the matching release (nestable). */
void kh_audit_hold(kh_ctx *ctx);
void kh_audit_release(kh_ctx *ctx);

typedef struct kh_audit_report {
    int64_t rows;      /* rows that verified, in order, before any break */
    int64_t broken_id; /* first row that does not verify; 0 = chain intact */
    char reason[128];  /* why broken_id fails */
} kh_audit_report;

/* Walk the whole chain. KH_OK when it could be read (then look at
 * out->broken_id); a store error otherwise. */
kh_err kh_audit_verify(kh_store *s, kh_audit_report *out) KH_MUST_CHECK;

#endif
