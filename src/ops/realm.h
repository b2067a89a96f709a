/*
 * realm.h - realms, their members and the roles that give permissions on
 * every object of a realm (DESIGN.md section 2, docs/authorization.md).
 *
 * Every object lives in one realm (kh_obj_row.realm_id) and is sealed
 * under that realm's key. A member's role gives a fixed set of
 * permissions (KH_PERM_*) on all of the realm's objects, on top of what
 * the owner and grants give (ops/authz.c adds them). Membership is
 * history: each role given or taken back is a dated row (store.h
 * kh_member_row), nothing is overwritten.
 */
#ifndef KH_OPS_REALM_H
#define KH_OPS_REALM_H

#include "common/err.h"
#include "ops/ops.h"

#include <stdbool.h>
#include <stdint.h>

/* The custom attribute that puts a new object into a named realm (Create,
 * Register, CreateKeyPair...). Without it an object goes to the default
 * realm, as before realms had members. */
#define KH_REALM_ATTRIBUTE "x-keyhold-realm"

/* A user's personal realm is this prefix and its id (ops/users.c makes it
 * with the user, migration 7 for users that existed before). */
#define KH_PERSONAL_REALM_PREFIX "user-"

/* The permissions role ("OWNER", "MANAGER", "CONTRIBUTOR", "READER",
 * case-sensitive) gives; 0 for anything else ("GRANT" included: a grant
 * gives what it names). */
uint32_t kh_realm_role_perms(const char *role);

/* 1 to 64 of [A-Za-z0-9._-]. */
bool kh_realm_name_ok(const char *name);

/* Create realm name. KH_ERR_INVALID_FIELD for a bad name, KH_ERR_EXISTS
 * when taken; *id (may be NULL) gets its number. When owner is not NULL it
 * becomes the realm's first OWNER. Administrators only: the caller
 * (proto/admin.c) has checked that. */
kh_err kh_op_realm_create(kh_ctx *ctx, const char *name, const char *owner,
                          int64_t *id) KH_MUST_CHECK;

/* Give member ("*" = everyone) role in realm name, or (role NULL) take its
 * role back. role "GRANT" is a realm-level grant of exactly perms (not 0;
 * perms must be 0 with any other role). Who may: an administrator (admin
 * true), the realm's OWNERs, and its MANAGERs for CONTRIBUTOR and READER
 * roles and grants within CONTRIBUTOR's permissions. "*" may not be OWNER
 * or MANAGER. KH_ERR_NOT_FOUND when the realm does not exist or the
 * caller has no role in it, or (removal) the member has none;
 * KH_ERR_PERMISSION when the caller's role does not allow the change;
 * KH_ERR_INVALID_FIELD for an unknown role, bad perms or a bad member. */
kh_err kh_op_realm_member_set(kh_ctx *ctx, bool admin, const char *realm, const char *member,
                              const char *role, uint32_t perms) KH_MUST_CHECK;

/* The permissions ctx->principal's roles give in realm_id (0 when none). */
kh_err kh_realm_perms(const kh_ctx *ctx, int64_t realm_id, uint32_t *perms) KH_MUST_CHECK;

/* Where a new object with attributes attrs goes: *realm_id stays the
 * default realm unless attrs name one (KH_REALM_ATTRIBUTE); that realm
 * must exist and the caller's role in it must include Create
 * (KH_ERR_NOT_FOUND when it has no role there, KH_ERR_PERMISSION when it
 * has one without Create). */
kh_err kh_realm_place(const kh_ctx *ctx, const kh_ttlv *attrs, int64_t *realm_id) KH_MUST_CHECK;

#endif
