/*
 * object.h - a managed object as the operations see it: the stored row,
 * its decoded attributes, and access to its sealed material.
 */
#ifndef KH_OPS_OBJECT_H
#define KH_OPS_OBJECT_H

#include "common/err.h"
#include "ops/ops.h"
#include "proto/ttlv.h"
#include "store/store.h"

typedef struct kh_object {
    kh_obj_row *row;
    kh_ttlv *attrs; /* stored attributes (Attributes structure), never synthesized ones */
} kh_object;

/* A fresh object of type owned by ctx->principal, with a new uid and an
 * Initial Date of ctx->now. State PreActive. */
kh_object *kh_object_new(kh_ctx *ctx, uint32_t object_type);
/* Load uid if it exists and ctx->principal may use it with permission
 * ctx->perm (ops/authz.h: owner, or a grant); NOT_FOUND when absent or not
 * visible to the caller, PERMISSION when visible but not permitted. */
kh_err kh_object_load(kh_ctx *ctx, const char *uid, kh_object **out) KH_MUST_CHECK;
/* The same with an explicit permission (KH_PERM_*), for an operation that
 * uses a second object differently (e.g. a wrapping key: Encrypt). */
kh_err kh_object_load_perm(kh_ctx *ctx, const char *uid, uint32_t perm,
                           kh_object **out) KH_MUST_CHECK;
/* Apply the attributes a client gave at Create/Register/CreateKeyPair
 * (an Attributes structure, may be NULL), refusing server-only ones
 * (op_create.c). */
kh_err kh_object_apply_client_attrs(kh_ctx *ctx, kh_object *o, const kh_ttlv *attrs) KH_MUST_CHECK;
/* Seal material and insert the new object. */
kh_err kh_object_insert(kh_ctx *ctx, kh_object *o, const kh_ttlv *material) KH_MUST_CHECK;
/* The same for objs[0..n) (n <= KH_OBJECT_INSERT_MAX) in one store
 * transaction: all are inserted or none (materials[i] may be NULL). */
#define KH_OBJECT_INSERT_MAX 8
kh_err kh_object_insert_many(kh_ctx *ctx, kh_object *const *objs, const kh_ttlv *const *materials,
                             size_t n) KH_MUST_CHECK;
/* Write back o (Last Change Date = now); CONFLICT if it changed meanwhile. */
kh_err kh_object_save(kh_ctx *ctx, kh_object *o) KH_MUST_CHECK;
/* Decrypt and decode the material (caller frees); NO_KEY_VALUE if none. */
kh_err kh_object_material(kh_ctx *ctx, const kh_object *o, kh_ttlv **out) KH_MUST_CHECK;
/* Every attribute: the synthesized ones (Unique Identifier, Object Type,
 * Cryptographic Algorithm/Length, State) then the stored ones. */
kh_ttlv *kh_object_all_attrs(const kh_object *o);
void kh_object_free(kh_object **o);

/* Replace (or add) the single instance of attribute tag with a DateTime. */
void kh_object_set_date(kh_object *o, uint32_t tag, int64_t when);
/* Replace (or add) a single-valued attribute; takes ownership of a. */
void kh_object_set_attr_take(kh_object *o, kh_ttlv *a);

/* Load uid, apply fn, save; retried when a concurrent update wins. */
typedef kh_err (*kh_object_mutator)(kh_ctx *ctx, kh_object *o, void *arg);
kh_err kh_object_update(kh_ctx *ctx, const char *uid, kh_object_mutator fn,
                        void *arg) KH_MUST_CHECK;

/* A counter bumped after every object update this process writes (state,
 * attributes, names, destruction): the generation of the cache of lookups
 * by name (ops/kes_keycache.h). Inserts do not bump it. */
_Atomic uint64_t *kh_object_generation(void);

/* True when state is Destroyed or Destroyed Compromised. */
bool kh_state_is_destroyed(int32_t state);

#endif
