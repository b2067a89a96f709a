/*
 * realm.c - realms, members and roles (ops/realm.h).
 *
 * The role table is the one docs/authorization.md shows. A member row
 * stores the mask its role gave when it was granted, so that Locate can
 * filter in SQL; changing this table therefore applies to roles given
 * from then on (give the role again to refresh an older row).
 */
#include "ops/realm.h"

#include "common/log.h"
#include "ops/attrs.h"
#include "ops/authz.h"
#include "proto/kmip_consts.h"

#include <stdlib.h>
#include <string.h>

#define READER_PERMS (KH_PERM_GET | KH_PERM_GET_ATTRIBUTES | KH_PERM_LOCATE | KH_PERM_VERIFY)
#define CONTRIBUTOR_PERMS                                                                          \
    (READER_PERMS | KH_PERM_CREATE | KH_PERM_ENCRYPT | KH_PERM_DECRYPT | KH_PERM_SIGN |            \
     KH_PERM_MAC | KH_PERM_IMPORT | KH_PERM_REKEY | KH_PERM_MODIFY_ATTRIBUTES)
#define MANAGER_PERMS (CONTRIBUTOR_PERMS | KH_PERM_EXPORT | KH_PERM_REVOKE | KH_PERM_DESTROY)

static const struct {
    const char *role;
    uint32_t perms;
} roles[] = {
    {"OWNER", KH_PERM_ALL},
    {"MANAGER", MANAGER_PERMS},
    {"CONTRIBUTOR", CONTRIBUTOR_PERMS},
    {"READER", READER_PERMS},
};

uint32_t kh_realm_role_perms(const char *role)
{
    for (size_t i = 0; role && i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(roles[i].role, role) == 0)
            return roles[i].perms;
    return 0;
}

bool kh_realm_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* A member: "*" or a principal, printable ASCII without spaces. */
static bool member_ok(const char *m)
{
    size_t n = m ? strlen(m) : 0;
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)m[i] <= 0x20 || (unsigned char)m[i] >= 0x7f)
            return false;
    return true;
}

kh_err kh_op_realm_create(kh_ctx *ctx, const char *name, const char *owner, int64_t *id)
{
    if (!kh_realm_name_ok(name) || (owner && (!member_ok(owner) || strcmp(owner, "*") == 0)))
        return KH_ERR_INVALID_FIELD;
    int64_t rid = 0;
    kh_member_row m = {0,        (char *)owner,          "OWNER", KH_PERM_ALL,
                       ctx->now, (char *)ctx->principal, 0,       NULL};
    kh_err err = kh_store_realm_create(ctx->svc->store, name, ctx->now, owner ? &m : NULL, &rid);
    if (err == KH_OK && id)
        *id = rid;
    return err;
}

kh_err kh_realm_perms(const kh_ctx *ctx, int64_t realm_id, uint32_t *perms)
{
    return kh_store_realm_perms(ctx->svc->store, realm_id, ctx->principal, perms);
}

/* Within what a MANAGER may hand out: CONTRIBUTOR, READER, or a grant
 * of no more than CONTRIBUTOR's permissions. NULL (no row) counts. */
static bool manageable(const char *role, uint32_t perms)
{
    if (!role || strcmp(role, "CONTRIBUTOR") == 0 || strcmp(role, "READER") == 0)
        return true;
    return strcmp(role, "GRANT") == 0 && (perms & ~(uint32_t)CONTRIBUTOR_PERMS) == 0;
}

/* May the caller (row mine, role NULL for none) move the member from row
 * theirs (role NULL: none) to role/perms (role NULL: removal)? */
static kh_err may_change(const kh_member_row *mine, const kh_member_row *theirs, const char *role,
                         uint32_t perms)
{
    if (!mine->role)
        return KH_ERR_NOT_FOUND; /* the realm is invisible to non-members */
    if (strcmp(mine->role, "OWNER") == 0)
        return KH_OK;
    if (strcmp(mine->role, "MANAGER") != 0)
        return KH_ERR_PERMISSION;
    return manageable(theirs->role, theirs->permissions) && manageable(role, perms)
               ? KH_OK
               : KH_ERR_PERMISSION;
}

/* role and perms make sense for member. */
static bool change_ok(const char *member, const char *role, uint32_t perms)
{
    if (!member_ok(member))
        return false;
    if (!role)
        return perms == 0;
    bool grant = strcmp(role, "GRANT") == 0;
    if (grant ? (perms == 0 || (perms & ~(uint32_t)KH_PERM_ALL))
              : (!kh_realm_role_perms(role) || perms))
        return false;
    /* everyone may not manage the realm */
    return strcmp(member, "*") != 0 || (strcmp(role, "OWNER") != 0 && strcmp(role, "MANAGER") != 0);
}

kh_err kh_op_realm_member_set(kh_ctx *ctx, bool admin, const char *realm, const char *member,
                              const char *role, uint32_t perms)
{
    if (!kh_realm_name_ok(realm))
        return KH_ERR_NOT_FOUND;
    if (!change_ok(member, role, perms))
        return KH_ERR_INVALID_FIELD;
    if (role && strcmp(role, "GRANT") != 0)
        perms = kh_realm_role_perms(role);
    kh_realm_row r = {0};
    kh_member_row mine = {0}, theirs = {0};
    kh_err err = kh_store_realm_find(ctx->svc->store, realm, 0, &r);
    if (err != KH_OK)
        goto out;
    if (!admin) {
        err = kh_store_member_get(ctx->svc->store, r.id, ctx->principal, &mine);
        if (err != KH_OK && err != KH_ERR_NOT_FOUND)
            goto out;
    }
    err = kh_store_member_get(ctx->svc->store, r.id, member, &theirs);
    if (err != KH_OK && err != KH_ERR_NOT_FOUND)
        goto out;
    if (!admin && (err = may_change(&mine, &theirs, role, perms)) != KH_OK)
        goto out;
    if (!role) {
        err = kh_store_member_remove(ctx->svc->store, r.id, member, ctx->now, ctx->principal);
    } else {
        kh_member_row m = {
            r.id, (char *)member, (char *)role, perms, ctx->now, (char *)ctx->principal, 0, NULL};
        err = kh_store_member_set(ctx->svc->store, &m);
    }
out:
    kh_member_row_clear(&mine);
    kh_member_row_clear(&theirs);
    free(r.name);
    return err;
}

kh_err kh_realm_place(const kh_ctx *ctx, const kh_ttlv *attrs, int64_t *realm_id)
{
    kh_attr_ref ref = {KH_TAG_ATTRIBUTE, KH_REALM_ATTRIBUTE};
    const kh_ttlv *a = attrs ? kh_attr_find(attrs, &ref, 0, NULL) : NULL;
    if (!a)
        return KH_OK;
    const kh_ttlv *v = kh_ttlv_find(a, KH_TAG_ATTRIBUTE_VALUE);
    if (!v || v->type != KH_TTLV_TEXT_STRING)
        return KH_ERR_INVALID_FIELD;
    const char *name = (const char *)v->data;
    kh_realm_row r = {0};
    kh_err err = kh_realm_name_ok(name) && strlen(name) == v->len
                     ? kh_store_realm_find(ctx->svc->store, name, 0, &r)
                     : KH_ERR_NOT_FOUND;
    uint32_t perms = 0;
    if (err == KH_OK)
        err = kh_realm_perms(ctx, r.id, &perms);
    if (err == KH_OK && perms == 0)
        err = KH_ERR_NOT_FOUND; /* a realm one is not in looks absent */
    if (err == KH_OK && !(perms & KH_PERM_CREATE))
        err = KH_ERR_PERMISSION;
    if (err == KH_OK)
        *realm_id = r.id;
    free(r.name);
    return err;
}
