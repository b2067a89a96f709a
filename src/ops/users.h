/*
 * users.h - organizations, users, identities and API keys: who a request
 * acts as, and the administration operations behind /v1/admin.
 *
 * An identity names an authenticator: "tls:<hex SHA-256 of the client
 * certificate's SPKI>", "jwt:<issuer>#<subject>" or "apikey:<id>". Mapped
 * to a user, a request acts as that user: its principal (the owner of what
 * it creates, the grantee of grants) is the user's id, whichever listener
 * or authenticator it came through. An identity that maps to no user keeps
 * a principal of its own (the bare hex for "tls:", the identity itself
 * otherwise), so deployments without users behave as before; one that maps
 * to a revoked user does not authenticate (KH_ERR_AUTH). docs/admin-api.md
 * is the operators' version.
 */
#ifndef KH_OPS_USERS_H
#define KH_OPS_USERS_H

#include "common/err.h"
#include "crypto/rand.h"
#include "ops/ops.h"
#include "store/store.h"

#include <stdbool.h>

#define KH_WHO_MAX 512 /* identity and principal strings, NUL included */

/* Who a request acts as. */
typedef struct kh_who {
    char principal[KH_WHO_MAX];       /* owner / grantee name, never "" once resolved */
    char identity[KH_WHO_MAX];        /* the authenticator, "" in single-user mode */
    char user_id[KH_UUID_STRLEN + 1]; /* "" when the identity maps to no user */
    char profile[12];                 /* the user's profile, "" when none */
} kh_who;

/* Fill out for identity (see above). KH_ERR_AUTH for a revoked user or an
 * "apikey:" identity without a user; store errors as they come. */
kh_err kh_who_resolve(kh_store *s, const char *identity, kh_who *out) KH_MUST_CHECK;

/* Whether who is a registered, active ADMIN user. */
bool kh_who_is_admin(const kh_who *who);

/* Check the secret of an API key token "khk_<id>.<secret>" (constant-time,
 * against the stored SHA-256) and put "apikey:<id>" into identity.
 * KH_ERR_AUTH for a malformed, unknown, revoked or wrong key. */
kh_err kh_apikey_verify(kh_store *s, const char *token, char identity[KH_WHO_MAX]) KH_MUST_CHECK;
/* Does this Authorization bearer value have the API key shape? (A JWT has
 * two dots, an API key one, and the "khk_" prefix.) */
bool kh_apikey_shaped(const char *token);

/* Validation for the admin API: profile names, organization ids,
 * identities an operator may map ("tls:" and "jwt:"; "apikey:" ones come
 * with their key). */
bool kh_profile_valid(const char *profile);
bool kh_org_id_valid(const char *id);
bool kh_identity_valid(const char *identity);

/* Administration operations. ctx->principal is the actor (recorded in the
 * user history and the audit log, where every call lands). Outputs are
 * filled on KH_OK only; the caller clears them. */
kh_err kh_op_org_create(kh_ctx *ctx, const char *id) KH_MUST_CHECK;
/* organization NULL = "default"; profile NULL = "STANDARD". */
kh_err kh_op_user_create(kh_ctx *ctx, const char *organization, const char *label,
                         const char *email, const char *profile, kh_user_row *out) KH_MUST_CHECK;
/* NULL fields keep their value (KH_ERR_MISSING_DATA when all are NULL).
 * KH_ERR_WRONG_STATE for a revoked user. */
kh_err kh_op_user_update(kh_ctx *ctx, const char *id, const char *label, const char *email,
                         const char *profile, kh_user_row *out) KH_MUST_CHECK;
/* KH_ERR_WRONG_STATE when already revoked. Its identities stop
 * authenticating at once. */
kh_err kh_op_user_revoke(kh_ctx *ctx, const char *id, kh_user_row *out) KH_MUST_CHECK;
kh_err kh_op_identity_add(kh_ctx *ctx, const char *user_id, const char *identity) KH_MUST_CHECK;
kh_err kh_op_identity_remove(kh_ctx *ctx, const char *user_id, const char *identity) KH_MUST_CHECK;
/* A new key for user_id: *token ("khk_<id>.<secret>") is the only copy of
 * the secret (wipe and free it with kh_wipe_free(*token, strlen)). */
kh_err kh_op_apikey_create(kh_ctx *ctx, const char *user_id, const char *label, kh_apikey_row *out,
                           char **token) KH_MUST_CHECK;
/* user_id NULL = whichever user holds it. */
kh_err kh_op_apikey_revoke(kh_ctx *ctx, const char *id, const char *user_id) KH_MUST_CHECK;

#endif
