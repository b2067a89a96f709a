/*
 * authz.c - owners, grants and the permission each operation needs.
 *
 * The check itself is one indexed query (kh_store_grant_perms) per object
 * loaded by someone other than its owner; owners never touch the grant
 * table. A role in the object's realm adds its permissions (a second
 * query, only when the grants fall short). Locate filters in SQL instead
 * (op_locate.c).
 */
#include "ops/authz.h"

#include "ops/realm.h"
#include "proto/kmip_consts.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    uint32_t bit;
} perm_names[] = {
    {"create", KH_PERM_CREATE},
    {"get", KH_PERM_GET},
    {"export", KH_PERM_EXPORT},
    {"encrypt", KH_PERM_ENCRYPT},
    {"decrypt", KH_PERM_DECRYPT},
    {"sign", KH_PERM_SIGN},
    {"verify", KH_PERM_VERIFY},
    {"mac", KH_PERM_MAC},
    {"import", KH_PERM_IMPORT},
    {"revoke", KH_PERM_REVOKE},
    {"locate", KH_PERM_LOCATE},
    {"rekey", KH_PERM_REKEY},
    {"destroy", KH_PERM_DESTROY},
    {"get_attributes", KH_PERM_GET_ATTRIBUTES},
    {"modify_attributes", KH_PERM_MODIFY_ATTRIBUTES},
};
#define NPERMS (sizeof(perm_names) / sizeof(perm_names[0]))

/* What each KMIP operation needs on the object it names. Operations that
 * only create objects (the caller becomes the owner) or name none need
 * nothing here. Activate changes State and Activation Date, so it counts
 * as ModifyAttributes. DeriveKey is owner-only until it has a mapping. */
static const struct {
    uint32_t op;
    uint32_t perm;
} op_perms[] = {
    {KH_OPERATION_GET, KH_PERM_GET},
    {KH_OPERATION_EXPORT, KH_PERM_EXPORT},
    {KH_OPERATION_IMPORT, KH_PERM_IMPORT},
    {KH_OPERATION_GET_ATTRIBUTES, KH_PERM_GET_ATTRIBUTES},
    {KH_OPERATION_GET_ATTRIBUTE_LIST, KH_PERM_GET_ATTRIBUTES},
    {KH_OPERATION_CHECK, KH_PERM_GET_ATTRIBUTES},
    {KH_OPERATION_ADD_ATTRIBUTE, KH_PERM_MODIFY_ATTRIBUTES},
    {KH_OPERATION_MODIFY_ATTRIBUTE, KH_PERM_MODIFY_ATTRIBUTES},
    {KH_OPERATION_DELETE_ATTRIBUTE, KH_PERM_MODIFY_ATTRIBUTES},
    {KH_OPERATION_SET_ATTRIBUTE, KH_PERM_MODIFY_ATTRIBUTES},
    {KH_OPERATION_ADJUST_ATTRIBUTE, KH_PERM_MODIFY_ATTRIBUTES},
    {KH_OPERATION_ACTIVATE, KH_PERM_MODIFY_ATTRIBUTES},
    {KH_OPERATION_REVOKE, KH_PERM_REVOKE},
    {KH_OPERATION_DESTROY, KH_PERM_DESTROY},
    {KH_OPERATION_LOCATE, KH_PERM_LOCATE},
    {KH_OPERATION_ENCRYPT, KH_PERM_ENCRYPT},
    {KH_OPERATION_DECRYPT, KH_PERM_DECRYPT},
    {KH_OPERATION_SIGN, KH_PERM_SIGN},
    {KH_OPERATION_SIGNATURE_VERIFY, KH_PERM_VERIFY},
    {KH_OPERATION_MAC, KH_PERM_MAC},
    {KH_OPERATION_MAC_VERIFY, KH_PERM_MAC},
    {KH_OPERATION_REKEY, KH_PERM_REKEY},
    {KH_OPERATION_REKEY_KEY_PAIR, KH_PERM_REKEY},
};

uint32_t kh_authz_perm_of_kmip_op(uint32_t op)
{
    for (size_t i = 0; i < sizeof(op_perms) / sizeof(op_perms[0]); i++)
        if (op_perms[i].op == op)
            return op_perms[i].perm;
    return 0;
}

kh_err kh_authz_check(const kh_ctx *ctx, const kh_obj_row *row, uint32_t perm)
{
    if (strcmp(row->owner, ctx->principal) == 0)
        return KH_OK;
    if (perm == 0)
        return KH_ERR_NOT_FOUND;
    uint32_t granted = 0, in_realm = 0;
    kh_err err =
        kh_store_grant_perms(ctx->svc->store, row->owner, row->uid, ctx->principal, &granted);
    /* a role in the object's realm adds its permissions (ops/realm.h) */
    if (err == KH_OK && (granted & perm) != perm)
        err = kh_realm_perms(ctx, row->realm_id, &in_realm);
    if (err != KH_OK)
        return err;
    granted |= in_realm;
    if (granted == 0)
        return KH_ERR_NOT_FOUND; /* invisible: indistinguishable from absent */
    return (granted & perm) == perm ? KH_OK : KH_ERR_PERMISSION;
}

kh_err kh_perm_parse(const char *list, uint32_t *out)
{
    uint32_t mask = 0;
    const char *p = list;
    if (!list || !*list)
        return KH_ERR_INVALID_ARG;
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t i = 0;
        if (n == 3 && strncasecmp(p, "all", 3) == 0) {
            mask |= KH_PERM_ALL;
        } else {
            while (i < NPERMS &&
                   (strlen(perm_names[i].name) != n || strncasecmp(p, perm_names[i].name, n) != 0))
                i++;
            if (i == NPERMS)
                return KH_ERR_INVALID_ARG;
            mask |= perm_names[i].bit;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!mask)
        return KH_ERR_INVALID_ARG;
    *out = mask;
    return KH_OK;
}

void kh_perm_format(uint32_t perms, char *out, size_t outlen)
{
    size_t k = 0;
    if (outlen)
        out[0] = '\0';
    for (size_t i = 0; i < NPERMS && outlen; i++) {
        if (!(perms & perm_names[i].bit))
            continue;
        int w = snprintf(out + k, outlen - k, "%s%s", k ? "," : "", perm_names[i].name);
        if (w < 0 || (size_t)w >= outlen - k)
            return; /* truncated */
        k += (size_t)w;
    }
}

/* Only the owner manages grants on an object; "*" is always the caller's
 * own objects. */
static kh_err check_owner(kh_ctx *ctx, const char *object_uid)
{
    if (strcmp(object_uid, "*") == 0)
        return KH_OK;
    kh_obj_row *row = NULL;
    kh_err err = kh_store_object_get(ctx->svc->store, object_uid, &row);
    if (err != KH_OK)
        return err;
    if (strcmp(row->owner, ctx->principal) != 0) {
        /* a grantee sees a permission error, anyone else nothing at all */
        err = kh_authz_check(ctx, row, KH_PERM_ALL);
        if (err == KH_OK)
            err = KH_ERR_PERMISSION;
    }
    kh_obj_row_free(&row);
    return err;
}

kh_err kh_op_grant(kh_ctx *ctx, const char *object_uid, const char *grantee, uint32_t perms)
{
    if (!object_uid || !*object_uid || !grantee || !*grantee || !perms || (perms & ~KH_PERM_ALL))
        return KH_ERR_INVALID_ARG;
    kh_err err = check_owner(ctx, object_uid);
    if (err != KH_OK)
        return err;
    kh_grant_row g = {(char *)ctx->principal, (char *)object_uid, (char *)grantee, perms};
    return kh_store_grant_add(ctx->svc->store, &g);
}

kh_err kh_op_revoke_grant(kh_ctx *ctx, const char *object_uid, const char *grantee, uint32_t perms)
{
    if (!object_uid || !*object_uid || !grantee || !*grantee || !perms)
        return KH_ERR_INVALID_ARG;
    kh_grant_row g = {(char *)ctx->principal, (char *)object_uid, (char *)grantee, perms};
    /* No ownership check needed: the grant's key includes the caller as
     * owner, so one can only ever take back one's own grants (even on an
     * object destroyed since). */
    return kh_store_grant_remove(ctx->svc->store, &g);
}

kh_err kh_op_list_grants(kh_ctx *ctx, const char *object_uid, kh_grant_row **rows, size_t *n)
{
    return kh_store_grant_list(ctx->svc->store, ctx->principal, object_uid, rows, n);
}
