/*
 * op_lifecycle.c - Activate, Revoke, Destroy: the KMIP state machine.
 *
 *   PreActive --Activate--> Active --Revoke(other)--> Deactivated
 *   any non-destroyed --Revoke(key/CA compromise)--> Compromised
 *   PreActive|Deactivated --Destroy--> Destroyed
 *   Compromised --Destroy--> Destroyed Compromised
 *   Destroyed --Revoke(compromise)--> Destroyed Compromised
 * An Active object must be revoked before it can be destroyed.
 */
#include "ops/object.h"
#include "ops/ops.h"

#include "common/mem.h"
#include "proto/kmip_consts.h"

static kh_err do_activate(kh_ctx *ctx, kh_object *o, void *arg)
{
    (void)arg;
    if (o->row->state != (int32_t)KH_STATE_PRE_ACTIVE)
        return KH_ERR_WRONG_STATE;
    o->row->state = (int32_t)KH_STATE_ACTIVE;
    kh_object_set_date(o, KH_TAG_ACTIVATION_DATE, ctx->now);
    return KH_OK;
}

kh_err kh_op_activate(kh_ctx *ctx, const char *uid)
{
    return kh_object_update(ctx, uid, do_activate, NULL);
}

struct revoke_args {
    uint32_t reason;
    const char *message;
    int64_t occurrence;
};

static kh_err do_revoke(kh_ctx *ctx, kh_object *o, void *arg)
{
    struct revoke_args *r = arg;
    int32_t st = o->row->state;
    bool compromise = r->reason == KH_REVOCATION_REASON_CODE_KEY_COMPROMISE ||
                      r->reason == KH_REVOCATION_REASON_CODE_CA_COMPROMISE;
    if (compromise) {
        if (st == (int32_t)KH_STATE_DESTROYED)
            o->row->state = (int32_t)KH_STATE_DESTROYED_COMPROMISED;
        else if (st == (int32_t)KH_STATE_DESTROYED_COMPROMISED)
            return KH_ERR_WRONG_STATE;
        else
            o->row->state = (int32_t)KH_STATE_COMPROMISED;
        kh_object_set_date(o, KH_TAG_COMPROMISE_DATE, ctx->now);
        kh_object_set_date(o, KH_TAG_COMPROMISE_OCCURRENCE_DATE,
                           r->occurrence ? r->occurrence : ctx->now);
    } else {
        if (st != (int32_t)KH_STATE_ACTIVE)
            return KH_ERR_WRONG_STATE;
        o->row->state = (int32_t)KH_STATE_DEACTIVATED;
        kh_object_set_date(o, KH_TAG_DEACTIVATION_DATE, ctx->now);
    }
    kh_ttlv *rr = kh_ttlv_new_struct(KH_TAG_REVOCATION_REASON);
    kh_ttlv_add_take(rr, kh_ttlv_new_enum(KH_TAG_REVOCATION_REASON_CODE, r->reason));
    if (r->message)
        kh_ttlv_add_take(rr, kh_ttlv_new_text(KH_TAG_REVOCATION_MESSAGE, r->message));
    kh_object_set_attr_take(o, rr);
    return KH_OK;
}

kh_err kh_op_revoke(kh_ctx *ctx, const char *uid, uint32_t reason, const char *message,
                    int64_t compromise_occurrence)
{
    if (reason < KH_REVOCATION_REASON_CODE_UNSPECIFIED ||
        (reason > KH_REVOCATION_REASON_CODE_PRIVILEGE_WITHDRAWN && reason < 0x80000000U))
        return KH_ERR_INVALID_FIELD;
    struct revoke_args r = {reason, message, compromise_occurrence};
    return kh_object_update(ctx, uid, do_revoke, &r);
}

static kh_err do_destroy(kh_ctx *ctx, kh_object *o, void *arg)
{
    (void)arg;
    int32_t st = o->row->state;
    if (st == (int32_t)KH_STATE_PRE_ACTIVE || st == (int32_t)KH_STATE_DEACTIVATED)
        o->row->state = (int32_t)KH_STATE_DESTROYED;
    else if (st == (int32_t)KH_STATE_COMPROMISED)
        o->row->state = (int32_t)KH_STATE_DESTROYED_COMPROMISED;
    else
        return KH_ERR_WRONG_STATE; /* Active, or already destroyed */
    /* The sealed material goes; the metadata stays for audit and Locate. */
    kh_wipe_free(o->row->material, o->row->material_len);
    o->row->material = NULL;
    o->row->material_len = 0;
    kh_object_set_date(o, KH_TAG_DESTROY_DATE, ctx->now);
    return KH_OK;
}

kh_err kh_op_destroy(kh_ctx *ctx, const char *uid)
{
    return kh_object_update(ctx, uid, do_destroy, NULL);
}
