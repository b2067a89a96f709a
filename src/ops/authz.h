/*
 * authz.h - who may do what with an object: owners and grants.
 *
 * The owner of an object holds every permission on it. Anyone else needs a
 * grant from the owner: on that object or on "*" (all the owner's objects),
 * to that principal or to "*" (everyone). A principal with no grant at all
 * on an object cannot tell it from one that does not exist
 * (KH_ERR_NOT_FOUND); one with grants that lack the permission an operation
 * needs gets KH_ERR_PERMISSION. docs/authorization.md is the operators'
 * version of this.
 */
#ifndef KH_OPS_AUTHZ_H
#define KH_OPS_AUTHZ_H

#include "common/err.h"
#include "ops/ops.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Permissions, as stored in grants: values never change. */
#define KH_PERM_CREATE (1u << 0)
#define KH_PERM_GET (1u << 1)
#define KH_PERM_EXPORT (1u << 2)
#define KH_PERM_ENCRYPT (1u << 3)
#define KH_PERM_DECRYPT (1u << 4)
#define KH_PERM_SIGN (1u << 5)
#define KH_PERM_VERIFY (1u << 6)
#define KH_PERM_MAC (1u << 7)
#define KH_PERM_IMPORT (1u << 8)
#define KH_PERM_REVOKE (1u << 9)
#define KH_PERM_LOCATE (1u << 10)
#define KH_PERM_REKEY (1u << 11)
#define KH_PERM_DESTROY (1u << 12)
#define KH_PERM_GET_ATTRIBUTES (1u << 13)
#define KH_PERM_MODIFY_ATTRIBUTES (1u << 14)
#define KH_PERM_ALL 0x7fffu

/* KH_OK when ctx->principal may use perm on row (owner, or a grant with
 * every bit of perm); KH_ERR_NOT_FOUND when it has no grant on row at all
 * or perm is 0 (owner only); KH_ERR_PERMISSION otherwise. */
kh_err kh_authz_check(const kh_ctx *ctx, const kh_obj_row *row, uint32_t perm) KH_MUST_CHECK;

/* The permission KMIP operation op needs on the objects it names; 0 for
 * operations on no existing object (Create, Query, ...) and for those not
 * mapped yet, which are then owner-only. */
uint32_t kh_authz_perm_of_kmip_op(uint32_t op);

/* "get,encrypt,..." (names as in docs/authorization.md, case-insensitive,
 * "all" for every one) to a mask; KH_ERR_INVALID_ARG naming nothing known. */
kh_err kh_perm_parse(const char *list, uint32_t *out) KH_MUST_CHECK;
/* The mask as a comma-separated list of names into out. */
void kh_perm_format(uint32_t perms, char *out, size_t outlen);

/* Grant perms on object_uid ("*" = all of ctx->principal's objects) to
 * grantee ("*" = everyone). Only the owner of object_uid may
 * (KH_ERR_NOT_FOUND / KH_ERR_PERMISSION as for any other operation). */
kh_err kh_op_grant(kh_ctx *ctx, const char *object_uid, const char *grantee,
                   uint32_t perms) KH_MUST_CHECK;
/* Take perms back; KH_ERR_NOT_FOUND when there was no such grant. */
kh_err kh_op_revoke_grant(kh_ctx *ctx, const char *object_uid, const char *grantee,
                          uint32_t perms) KH_MUST_CHECK;
/* ctx->principal's grants, on object_uid only when not NULL (caller frees
 * with kh_grant_rows_free). */
kh_err kh_op_list_grants(kh_ctx *ctx, const char *object_uid, kh_grant_row **rows,
                         size_t *n) KH_MUST_CHECK;

#endif
