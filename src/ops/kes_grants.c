/*
 * kes_grants.c - grants on KES keys that follow the KES policies
 * (kes_grants.h): computed from the policy set, written through the
 * ordinary grant operations as the KES namespace's owner.
 */
#include "ops/kes_grants.h"

#include "common/log.h"
#include "ops/authz.h"
#include "ops/kes_ops.h"
#include "ops/object.h"
#include "proto/kmip_consts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *route;
    uint32_t perms;
} route_perms[] = {
    {"describe", KH_PERM_LOCATE | KH_PERM_GET_ATTRIBUTES},
    {"generate", KH_PERM_ENCRYPT},
    {"encrypt", KH_PERM_ENCRYPT},
    {"decrypt", KH_PERM_DECRYPT},
    {"hmac", KH_PERM_MAC},
    {"delete", KH_PERM_REVOKE | KH_PERM_DESTROY},
};

uint32_t kh_kes_policy_perms(const kh_kes_policies *p, const char *identity, const char *name)
{
    uint32_t perms = 0;
    char path[KH_KES_NAME_MAX + 32];
    for (size_t i = 0; i < sizeof(route_perms) / sizeof(route_perms[0]); i++) {
        snprintf(path, sizeof(path), "/v1/key/%s/%s", route_perms[i].route, name);
        if (kh_kes_policy_check(p, identity, path) == KH_OK)
            perms |= route_perms[i].perms;
    }
    return perms ? perms | KH_PERM_LOCATE : 0;
}

static kh_ctx owner_ctx(kh_service *svc)
{
    kh_ctx ctx = {.principal = KH_KES_OWNER, .now = (int64_t)time(NULL), .svc = svc};
    return ctx;
}

static uint32_t held(const kh_grant_row *rows, size_t n, const char *grantee)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].grantee, grantee) == 0)
            return rows[i].permissions;
    return 0;
}

/* Bring grantee's grant on uid from have to want. */
static kh_err adjust(kh_ctx *ctx, const char *uid, const char *grantee, uint32_t have,
                     uint32_t want)
{
    kh_err err = KH_OK;
    if (want & ~have)
        err = kh_op_grant(ctx, uid, grantee, want & ~have);
    if (err == KH_OK && (have & ~want))
        err = kh_op_revoke_grant(ctx, uid, grantee, have & ~want);
    return err;
}

kh_err kh_kes_grants_sync_key(kh_service *svc, const kh_kes_policies *p, const char *uid,
                              const char *name)
{
    kh_ctx ctx = owner_ctx(svc);
    kh_grant_row *rows = NULL;
    size_t nrows = 0, nids = 0;
    char **ids = NULL;
    kh_err err = kh_op_list_grants(&ctx, uid, &rows, &nrows);
    if (err == KH_OK)
        err = kh_kes_identity_list(p, "", &ids, &nids);
    for (size_t i = 0; err == KH_OK && i < nids; i++)
        err = adjust(&ctx, uid, ids[i], held(rows, nrows, ids[i]),
                     kh_kes_policy_perms(p, ids[i], name));
    /* identities that no longer hold a policy lose what they had */
    for (size_t i = 0; err == KH_OK && i < nrows; i++) {
        size_t j = 0;
        while (j < nids && strcmp(ids[j], rows[i].grantee) != 0)
            j++;
        if (j == nids)
            err = adjust(&ctx, uid, rows[i].grantee, rows[i].permissions, 0);
    }
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    kh_grant_rows_free(rows, nrows);
    return err;
}

/* The first valid KES name of o, or NULL. */
static const char *kes_name(const kh_object *o)
{
    for (size_t j = 0; j < o->row->n_names; j++)
        if (kh_kes_name_valid(o->row->names[j]))
            return o->row->names[j];
    return NULL;
}

kh_err kh_kes_grants_sync_all(kh_service *svc, const kh_kes_policies *p)
{
    kh_ctx ctx = owner_ctx(svc);
    kh_locate_result res;
    kh_ttlv *attrs = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(attrs, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, KH_OBJECT_TYPE_SYMMETRIC_KEY));
    kh_err err = kh_op_locate(&ctx, attrs, 0, -1, &res);
    kh_ttlv_free(&attrs);
    if (err != KH_OK)
        return err;
    size_t synced = 0;
    for (size_t i = 0; err == KH_OK && i < res.n; i++) {
        kh_object *o = NULL;
        if (kh_object_load(&ctx, res.uids[i], &o) != KH_OK)
            continue;
        const char *name = kes_name(o);
        if (name && !kh_state_is_destroyed(o->row->state)) {
            err = kh_kes_grants_sync_key(svc, p, res.uids[i], name);
            synced++;
        }
        kh_object_free(&o);
    }
    kh_locate_result_clear(&res);
    if (err == KH_OK && synced)
        kh_info("kes: grants of %zu key(s) follow the policies", synced);
    return err;
}
