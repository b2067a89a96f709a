/*
 * ops.h - the transport-agnostic KMIP operations: the product itself.
 *
 * KMIP binary, KMIP JSON and (later) KES all call these same functions. An
 * operation takes a kh_ctx (who is asking, when, against which service) and
 * canonical values: attributes travel as a KMIP 2.x-style "Attributes"
 * structure of tagged items (1.x "Attribute" forms are converted by proto/),
 * managed objects as their KMIP TTLV structure (e.g. SymmetricKey{KeyBlock}).
 *
 * Visibility: an object belongs to the principal that created it, who may
 * do everything with it. Another principal needs a grant (ops/authz.h):
 * without any grant the object answers KH_ERR_NOT_FOUND, exactly as one
 * that does not exist; with grants that lack the operation's permission,
 * KH_ERR_PERMISSION. Every operation is recorded in the audit log
 * (ops/audit.h) by the protocol layer, or, for a successful write, by the
 * write itself in the same commit (ctx->audit).
 */
#ifndef KH_OPS_OPS_H
#define KH_OPS_OPS_H

#include "common/err.h"
#include "ops/keyring.h"
#include "proto/ttlv.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct kh_service {
    kh_store *store;     /* borrowed */
    kh_keyring *keyring; /* borrowed */
    int64_t realm_id;    /* the default realm */
    const char *server_name;
    bool audit; /* append every operation to the audit log (serve sets it) */
    /* Rows of read-only operations may reach the disk just after the reply
     * (docs/audit.md, --audit-sync-reads=false, keyhold serve's default);
     * false here, for embedders and tests: every row synced. */
    bool audit_reads_sync_later;
    /* HTTPS authentication settings (proto/authn.h); NULL = client
     * certificates only, single-user mode without one. */
    const struct kh_authn *authn;
    /* KES policies kept in the database (ops/kes_policy_db.h), for the
     * admin API; NULL = none (tests, tools). */
    struct kh_kes_policy_db *kes_policy_db;
} kh_service;

typedef struct kh_ctx {
    const char *principal; /* never NULL */
    int64_t now;           /* unix seconds, fixed for the whole request */
    kh_service *svc;
    const char *client_addr; /* "ip:port" of the peer; NULL or "" when none */
    /* The permission (KH_PERM_*, ops/authz.h) the current operation needs
     * on the objects kh_object_load loads; the protocol layer sets it per
     * operation (kh_authz_perm_of_kmip_op). 0 = owner only. */
    uint32_t perm;
    /* The authenticator behind principal when principal is a registered
     * user ("tls:...", "apikey:..."; ops/users.h), for the audit log;
     * NULL otherwise. */
    const char *identity;
    /* The current operation's audit row, when the protocol layer prepared
     * one (ops/audit.h, kh_audit_prepare): the operation's last object
     * write carries it into the same commit. NULL = appended afterwards. */
    struct kh_audit_pending *audit;
} kh_ctx;

/* Creates a key of object_type (SymmetricKey) from attrs, which must name
 * CryptographicAlgorithm (AES or an HMAC) and CryptographicLength. */
kh_err kh_op_create(kh_ctx *ctx, uint32_t object_type, const kh_ttlv *attrs,
                    char **uid) KH_MUST_CHECK;

/* Registers obj (the managed object structure, e.g. SymmetricKey). */
kh_err kh_op_register(kh_ctx *ctx, uint32_t object_type, const kh_ttlv *attrs, const kh_ttlv *obj,
                      char **uid) KH_MUST_CHECK;

/* Gets a copy of the managed object (caller frees *obj). */
kh_err kh_op_get(kh_ctx *ctx, const char *uid, uint32_t *object_type, kh_ttlv **obj) KH_MUST_CHECK;

/* A reference to an attribute: its tag, or for a custom attribute (tag
 * KH_TAG_ATTRIBUTE) its name. */
typedef struct kh_attr_ref {
    uint32_t tag;
    const char *name;
} kh_attr_ref;

/* All attributes (nrefs == 0) or the selected ones, as an Attributes
 * structure (caller frees). Unknown references are ignored. */
kh_err kh_op_get_attributes(kh_ctx *ctx, const char *uid, const kh_attr_ref *refs, size_t nrefs,
                            kh_ttlv **attrs) KH_MUST_CHECK;

/* attr is one canonical attribute item. index selects an instance of a
 * multi-valued attribute (-1 = the first / not given). */
kh_err kh_op_add_attribute(kh_ctx *ctx, const char *uid, const kh_ttlv *attr,
                           int32_t *index_out) KH_MUST_CHECK;
/* Replaces instance index (or the instance equal to current if given) with
 * attr. */
kh_err kh_op_modify_attribute(kh_ctx *ctx, const char *uid, const kh_ttlv *current,
                              const kh_ttlv *attr, int32_t index, int32_t *index_out) KH_MUST_CHECK;
/* Deletes instance index of ref (or the instance equal to current). A copy
 * of the deleted item goes to *deleted when non-NULL. */
kh_err kh_op_delete_attribute(kh_ctx *ctx, const char *uid, const kh_attr_ref *ref,
                              const kh_ttlv *current, int32_t index,
                              kh_ttlv **deleted) KH_MUST_CHECK;

kh_err kh_op_activate(kh_ctx *ctx, const char *uid) KH_MUST_CHECK;
/* reason is a KMIP RevocationReasonCode; message may be NULL;
 * compromise_occurrence 0 = now. */
kh_err kh_op_revoke(kh_ctx *ctx, const char *uid, uint32_t reason, const char *message,
                    int64_t compromise_occurrence) KH_MUST_CHECK;
kh_err kh_op_destroy(kh_ctx *ctx, const char *uid) KH_MUST_CHECK;

/* Locate: filters come from attrs (Name, ObjectType, CryptographicAlgorithm,
 * CryptographicLength, State); others give KH_ERR_UNSUPPORTED. */
typedef struct kh_locate_result {
    char **uids;
    size_t n;
    int64_t total; /* matches before offset/limit */
} kh_locate_result;
kh_err kh_op_locate(kh_ctx *ctx, const kh_ttlv *attrs, int64_t offset, int64_t max_items,
                    kh_locate_result *out) KH_MUST_CHECK;
void kh_locate_result_clear(kh_locate_result *r);

/* The object types it stores. */
extern const uint32_t kh_object_types_supported[];
extern const size_t kh_object_types_supported_count;

#endif
