/*
 * kes_policy_db.h - KES policies and identity assignments kept in the
 * database, so that changes made through the admin API survive restarts
 * and reach every node sharing the database (docs/kes.md, "Policies in
 * the database").
 *
 * The in-memory set (ops/kes_policy.h) stays what the KES listener reads
 * on every request; this module keeps it in step with the database:
 *
 *   - at start-up the policy file's policies and assignments are written
 *     to the database (overwriting entries of the same name or identity;
 *     entries only the database has stay), then the whole database set is
 *     loaded;
 *   - a change through the admin API (kh_op_kes_*) is written to the
 *     database, reloaded at once on this node, and the KMIP grants of KES
 *     keys (ops/kes_grants.h, kept in the shared database) recomputed;
 *   - other nodes notice the change by polling the store's KES policy
 *     version (one single-row SELECT) at most every refresh_secs seconds,
 *     from the KES listener's requests, and reload the set when it moved.
 *
 * The admin identity (--kes-admin-identity) is per node and never stored;
 * an assignment of it in the database is ignored on that node.
 */
#ifndef KH_OPS_KES_POLICY_DB_H
#define KH_OPS_KES_POLICY_DB_H

#include "common/err.h"
#include "ops/kes_policy.h"
#include "ops/ops.h"

#include <stdbool.h>

typedef struct kh_kes_policy_db kh_kes_policy_db;

/* A keeper of pol (borrowed; must outlive it) for svc's store.
 * refresh_secs: least seconds between two version checks (0: every
 * request). */
kh_kes_policy_db *kh_kes_policy_db_new(kh_service *svc, kh_kes_policies *pol,
                                       unsigned refresh_secs);
void kh_kes_policy_db_free(kh_kes_policy_db **d);

/* Start-up: write pol's current policies and assignments (those of the
 * policy file) to the database, then load the database's set into pol. */
kh_err kh_kes_policy_db_bootstrap(kh_kes_policy_db *d) KH_MUST_CHECK;

/* Reload pol from the database when its version moved. Without force, at
 * most one check every refresh_secs, and none while another thread is
 * reloading (the caller goes on with the current set). A failure is
 * logged here; the set stays as it was. NULL d: nothing to do. */
kh_err kh_kes_policy_db_refresh(kh_kes_policy_db *d, bool force);

/* The admin API's changes, for ctx->svc->kes_policy_db; each audited.
 * KH_ERR_INVALID_ARG for a malformed name, rule or identity (or this
 * node's admin identity), KH_ERR_NOT_FOUND for a missing policy or
 * assignment, KH_ERR_UNSUPPORTED without a database keeper. */
kh_err kh_op_kes_policy_put(kh_ctx *ctx, const kh_kes_policy *p) KH_MUST_CHECK;
kh_err kh_op_kes_policy_delete(kh_ctx *ctx, const char *name) KH_MUST_CHECK;
kh_err kh_op_kes_assign(kh_ctx *ctx, const char *identity, const char *policy) KH_MUST_CHECK;
kh_err kh_op_kes_unassign(kh_ctx *ctx, const char *identity) KH_MUST_CHECK;

#endif
