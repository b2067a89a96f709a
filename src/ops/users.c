/*
 * users.c - identities to users, API keys, and the administration
 * operations (ops/users.h).
 *
 * API key secrets are 32 random bytes shown once as hex; the store keeps
 * only their SHA-256, which is enough for a secret of that entropy (no
 * password stretching needed), compared in constant time.
 */
#include "ops/users.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/digest.h"
#include "crypto/secbuf.h"
#include "ops/audit.h"
#include "ops/realm.h"

#include <stdio.h>
#include <string.h>

#define APIKEY_PREFIX "khk_"
#define APIKEY_ID_BYTES 8      /* 16 hex characters */
#define APIKEY_SECRET_BYTES 32 /* 64 hex characters */
#define LABEL_MAX 256

/* ---- who ---------------------------------------------------------------- */

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

_Static_assert(sizeof(((kh_who *)0)->user_id) == sizeof(((kh_identity_owner *)0)->user_id) &&
                   sizeof(((kh_who *)0)->profile) == sizeof(((kh_identity_owner *)0)->profile),
               "kh_who and kh_identity_owner disagree");

kh_err kh_who_resolve(kh_store *s, const char *identity, kh_who *out)
{
    if (!identity || !*identity || strlen(identity) >= KH_WHO_MAX)
        return KH_ERR_AUTH;
    kh_identity_owner o;
    kh_err err = kh_store_identity_owner(s, identity, &o);
    if (err != KH_OK)
        return err;
    memset(out, 0, sizeof(*out));
    copy(out->identity, sizeof(out->identity), identity);
    if (!o.found) {
        if (has_prefix(identity, "apikey:"))
            return KH_ERR_AUTH; /* a key always has a user; revoked keys lose theirs */
        /* Unregistered: a certificate keeps its hex principal, as before
         * users existed; other authenticators their identity. */
        copy(out->principal, sizeof(out->principal),
             has_prefix(identity, "tls:") ? identity + 4 : identity);
        return KH_OK;
    }
    if (o.revoked)
        return KH_ERR_AUTH;
    copy(out->principal, sizeof(out->principal), o.user_id);
    copy(out->user_id, sizeof(out->user_id), o.user_id);
    copy(out->profile, sizeof(out->profile), o.profile);
    return KH_OK;
}

bool kh_who_is_admin(const kh_who *who)
{
    return who->user_id[0] && strcmp(who->profile, "ADMIN") == 0;
}

/* ---- API keys ----------------------------------------------------------- */

static bool all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[n] == '\0' || s[n] == '.';
}

bool kh_apikey_shaped(const char *token)
{
    return token && has_prefix(token, APIKEY_PREFIX);
}

kh_err kh_apikey_verify(kh_store *s, const char *token, char identity[KH_WHO_MAX])
{
    const size_t plen = strlen(APIKEY_PREFIX), idlen = 2 * APIKEY_ID_BYTES;
    const size_t slen = 2 * APIKEY_SECRET_BYTES;
    if (!kh_apikey_shaped(token) || strlen(token) != plen + idlen + 1 + slen)
        return KH_ERR_AUTH;
    const char *id = token + plen, *secret = id + idlen + 1;
    if (!all_hex(id, idlen) || id[idlen] != '.' || !all_hex(secret, slen))
        return KH_ERR_AUTH;
    char key_id[2 * APIKEY_ID_BYTES + 1];
    memcpy(key_id, id, idlen);
    key_id[idlen] = '\0';
    uint8_t digest[KH_SHA256_LEN];
    char hex[2 * KH_SHA256_LEN + 1];
    kh_apikey_row k = {0};
    kh_err err = kh_sha256((const uint8_t *)secret, slen, digest);
    if (err == KH_OK)
        err = kh_store_apikey_get(s, key_id, &k);
    if (err == KH_OK) {
        kh_hex(digest, sizeof(digest), hex);
        bool same = kh_ct_equal((const uint8_t *)hex, strlen(hex), (const uint8_t *)k.secret_sha256,
                                strlen(k.secret_sha256));
        if (!same || k.revoked_at != 0)
            err = KH_ERR_AUTH;
    } else if (err == KH_ERR_NOT_FOUND) {
        err = KH_ERR_AUTH;
    }
    if (err == KH_OK)
        snprintf(identity, KH_WHO_MAX, "apikey:%s", key_id);
    kh_wipe(digest, sizeof(digest));
    kh_wipe(hex, sizeof(hex));
    kh_apikey_row_clear(&k);
    return err;
}

/* ---- validation --------------------------------------------------------- */

bool kh_profile_valid(const char *p)
{
    return p &&
           (strcmp(p, "ADMIN") == 0 || strcmp(p, "STANDARD") == 0 || strcmp(p, "OUTSIDER") == 0);
}

bool kh_org_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* Printable ASCII, no spaces, under max bytes. */
static bool printable(const char *s, size_t max, bool spaces)
{
    size_t n = s ? strlen(s) : 0;
    if (n >= max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || (c == ' ' && !spaces))
            return false;
    }
    return true;
}

bool kh_identity_valid(const char *identity)
{
    if (!identity || !printable(identity, KH_WHO_MAX, false))
        return false;
    if (has_prefix(identity, "tls:"))
        return strlen(identity) == 4 + 64 && all_hex(identity + 4, 64);
    if (has_prefix(identity, "jwt:")) {
        const char *hash = strrchr(identity, '#');
        return hash && hash > identity + 4 && hash[1] != '\0';
    }
    return false;
}

/* ---- administration ----------------------------------------------------- */

static kh_err audited(kh_ctx *ctx, const char *op, const char *object, kh_err err)
{
    (void)kh_audit_record(ctx, op, object ? object : "", err);
    return err;
}

kh_err kh_op_org_create(kh_ctx *ctx, const char *id)
{
    kh_err err = kh_org_id_valid(id) ? kh_store_org_create(ctx->svc->store, id, ctx->now)
                                     : KH_ERR_INVALID_FIELD;
    return audited(ctx, "CreateOrganization", kh_org_id_valid(id) ? id : "", err);
}

static bool text_ok(const char *s, bool required)
{
    return (!required || (s && *s)) && (!s || printable(s, LABEL_MAX, true));
}

/* Every user gets a realm of its own, "user-<id>", with itself as OWNER
 * (ops/realm.h). The user exists either way: a failure here is logged,
 * and an administrator can create the realm by hand. */
static void personal_realm(kh_ctx *ctx, const char *id)
{
    char name[64];
    snprintf(name, sizeof(name), KH_PERSONAL_REALM_PREFIX "%s", id);
    kh_err err = kh_op_realm_create(ctx, name, id, NULL);
    if (err != KH_OK)
        kh_error("users: personal realm %s not created: %s", name, kh_strerror(err));
}

kh_err kh_op_user_create(kh_ctx *ctx, const char *organization, const char *label,
                         const char *email, const char *profile, kh_user_row *out)
{
    char id[KH_UUID_STRLEN + 1] = "";
    kh_user_row u = {0};
    kh_err err = KH_OK;
    organization = organization ? organization : "default";
    profile = profile ? profile : "STANDARD";
    if (!kh_org_id_valid(organization) || !text_ok(label, true) || !text_ok(email, false) ||
        !kh_profile_valid(profile))
        err = KH_ERR_INVALID_FIELD;
    if (err == KH_OK)
        err = kh_uuid4(id);
    if (err == KH_OK) {
        kh_user_row row = {.id = id,
                           .organization = (char *)organization,
                           .created_at = ctx->now,
                           .label = (char *)label,
                           .email = (char *)(email ? email : ""),
                           .profile = (char *)profile,
                           .revoked_at = 0,
                           .at = ctx->now,
                           .change = "create",
                           .actor = (char *)ctx->principal};
        err = kh_store_user_create(ctx->svc->store, &row);
    }
    if (err == KH_OK)
        personal_realm(ctx, id);
    if (err == KH_OK)
        err = kh_store_user_get(ctx->svc->store, id, &u);
    if (err == KH_OK)
        *out = u;
    return audited(ctx, "CreateUser", id, err);
}

/* Append a new state made from cur with the given changes. */
static kh_err append_state(kh_ctx *ctx, kh_user_row *cur, const char *change, kh_user_row *out)
{
    cur->at = ctx->now;
    free(cur->change);
    free(cur->actor);
    cur->change = kh_xstrdup(change);
    cur->actor = kh_xstrdup(ctx->principal);
    kh_err err = kh_store_user_append(ctx->svc->store, cur);
    kh_user_row fresh = {0};
    if (err == KH_OK)
        err = kh_store_user_get(ctx->svc->store, cur->id, &fresh);
    if (err == KH_OK)
        *out = fresh;
    return err;
}

static void replace(char **field, const char *value)
{
    if (!value)
        return;
    free(*field);
    *field = kh_xstrdup(value);
}

#define CHANGE_ATTEMPTS 5

/* Read the user's current state, apply the change, append it; again from
 * a fresh read when another change won the race (kh_store_user_append). A
 * revoked user takes no change. */
static kh_err change_user(kh_ctx *ctx, const char *id, const char *label, const char *email,
                          const char *profile, bool revoke, kh_user_row *out)
{
    kh_err err = KH_ERR_CONFLICT;
    for (int i = 0; i < CHANGE_ATTEMPTS && err == KH_ERR_CONFLICT; i++) {
        kh_user_row cur = {0};
        err = kh_store_user_get(ctx->svc->store, id, &cur);
        if (err == KH_OK && cur.revoked_at != 0)
            err = KH_ERR_WRONG_STATE;
        if (err == KH_OK) {
            replace(&cur.label, label);
            replace(&cur.email, email);
            replace(&cur.profile, profile);
            if (revoke)
                cur.revoked_at = ctx->now;
            err = append_state(ctx, &cur, revoke ? "revoke" : "update", out);
        }
        kh_user_row_clear(&cur);
    }
    return err;
}

kh_err kh_op_user_update(kh_ctx *ctx, const char *id, const char *label, const char *email,
                         const char *profile, kh_user_row *out)
{
    kh_err err = KH_OK;
    if ((label && !text_ok(label, true)) || !text_ok(email, false) ||
        (profile && !kh_profile_valid(profile)))
        err = KH_ERR_INVALID_FIELD;
    if (!label && !email && !profile)
        err = KH_ERR_MISSING_DATA; /* a history row must record a change */
    if (err == KH_OK)
        err = change_user(ctx, id, label, email, profile, false, out);
    return audited(ctx, "UpdateUser", id, err);
}

kh_err kh_op_user_revoke(kh_ctx *ctx, const char *id, kh_user_row *out)
{
    return audited(ctx, "RevokeUser", id, change_user(ctx, id, NULL, NULL, NULL, true, out));
}

/* The audit log's object for an identity change: "<user> <identity>", so
 * the log says which authenticator was given to (or taken from) whom. */
static kh_err identity_audited(kh_ctx *ctx, const char *op, const char *user_id,
                               const char *identity, kh_err err)
{
    char object[KH_WHO_MAX + KH_UUID_STRLEN + 2];
    snprintf(object, sizeof(object), "%s %s", user_id ? user_id : "",
             err == KH_ERR_INVALID_FIELD || !identity ? "" : identity);
    return audited(ctx, op, object, err);
}

kh_err kh_op_identity_add(kh_ctx *ctx, const char *user_id, const char *identity)
{
    kh_err err = kh_identity_valid(identity)
                     ? kh_store_identity_add(ctx->svc->store, identity, user_id, ctx->now)
                     : KH_ERR_INVALID_FIELD;
    return identity_audited(ctx, "AddIdentity", user_id, identity, err);
}

kh_err kh_op_identity_remove(kh_ctx *ctx, const char *user_id, const char *identity)
{
    kh_err err = identity && *identity && strlen(identity) < KH_WHO_MAX
                     ? kh_store_identity_remove(ctx->svc->store, identity, user_id, ctx->now)
                     : KH_ERR_INVALID_FIELD;
    return identity_audited(ctx, "RemoveIdentity", user_id, identity, err);
}

static kh_err new_key(kh_apikey_row *k, char **token)
{
    uint8_t raw[APIKEY_ID_BYTES + APIKEY_SECRET_BYTES], digest[KH_SHA256_LEN];
    char id[2 * APIKEY_ID_BYTES + 1], secret[2 * APIKEY_SECRET_BYTES + 1];
    char hash[2 * KH_SHA256_LEN + 1];
    kh_err err = kh_random_secret(raw, sizeof(raw));
    if (err == KH_OK) {
        kh_hex(raw, APIKEY_ID_BYTES, id);
        kh_hex(raw + APIKEY_ID_BYTES, APIKEY_SECRET_BYTES, secret);
        err = kh_sha256((const uint8_t *)secret, strlen(secret), digest);
    }
    if (err == KH_OK) {
        kh_hex(digest, sizeof(digest), hash);
        size_t n = strlen(APIKEY_PREFIX) + strlen(id) + 1 + strlen(secret) + 1;
        *token = kh_xmalloc(n);
        snprintf(*token, n, "%s%s.%s", APIKEY_PREFIX, id, secret);
        k->id = kh_xstrdup(id);
        k->secret_sha256 = kh_xstrdup(hash);
    }
    kh_wipe(raw, sizeof(raw));
    kh_wipe(secret, sizeof(secret));
    kh_wipe(digest, sizeof(digest));
    return err;
}

kh_err kh_op_apikey_create(kh_ctx *ctx, const char *user_id, const char *label, kh_apikey_row *out,
                           char **token)
{
    kh_apikey_row k = {0};
    kh_user_row u = {0};
    char *tok = NULL;
    label = label ? label : "";
    kh_err err = text_ok(label, false) ? KH_OK : KH_ERR_INVALID_FIELD;
    if (err == KH_OK)
        err = kh_store_user_get(ctx->svc->store, user_id, &u);
    if (err == KH_OK && u.revoked_at != 0)
        err = KH_ERR_WRONG_STATE;
    if (err == KH_OK)
        err = new_key(&k, &tok);
    if (err == KH_OK) {
        k.user_id = kh_xstrdup(user_id);
        k.label = kh_xstrdup(label);
        k.created_at = ctx->now;
        err = kh_store_apikey_create(ctx->svc->store, &k);
    }
    (void)audited(ctx, "CreateApiKey", k.id ? k.id : user_id, err);
    kh_user_row_clear(&u);
    if (err != KH_OK) {
        kh_apikey_row_clear(&k);
        if (tok)
            kh_wipe_free(tok, strlen(tok));
        return err;
    }
    *out = k;
    *token = tok;
    return KH_OK;
}

kh_err kh_op_apikey_revoke(kh_ctx *ctx, const char *id, const char *user_id)
{
    kh_err err = id && *id && strlen(id) < 64
                     ? kh_store_apikey_revoke(ctx->svc->store, id, user_id, ctx->now)
                     : KH_ERR_NOT_FOUND;
    return audited(ctx, "RevokeApiKey", id && strlen(id) < 64 ? id : "", err);
}
