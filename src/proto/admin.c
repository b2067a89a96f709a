/*
 * admin.c - the admin REST API (proto/admin.h, docs/admin-api.md).
 *
 * Routes:
 *   GET|POST        /v1/admin/organizations
 *   GET             /v1/admin/organizations/{id}/users
 *   GET|POST        /v1/admin/users
 *   GET|PATCH       /v1/admin/users/{id}
 *   POST            /v1/admin/users/{id}/revoke
 *   GET|POST|DELETE /v1/admin/users/{id}/identities
 *   GET|POST        /v1/admin/users/{id}/api-keys
 *   DELETE          /v1/admin/api-keys/{id}
 *   GET|POST|DELETE /v1/admin/grants/{owner}   (owner percent-encoded)
 *   /v1/admin/kes/...                          (KES policies: admin_kes.c)
 *   /v1/admin/realms...                        (admin_realms.c; some routes
 *                                               for realm members too)
 * The operations themselves are in ops/users.h and ops/authz.h; this file
 * only authorizes, parses and formats. The API key secret appears in
 * exactly one response body, which is wiped when freed.
 */
#include "proto/admin.h"
#include "proto/admin_json.h"
#include "proto/admin_kes.h"

#include "common/mem.h"
#include "ops/audit.h"
#include "ops/authz.h"
#include "ops/users.h"
#include "proto/admin_realms.h"
#include "proto/authn.h"
#include "proto/kmip_json.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PREFIX "/v1/admin"
#define TOKEN_ACTOR "administration-token"
#define MAX_SEGS 4

typedef struct adm {
    kh_service *svc;
    const kh_http_request *req;
    kh_http_reply *r;
    kh_ctx ctx;
    char addr[64];
    kh_who who;
    json_t *body; /* NULL when the request had none */
    bool member;  /* not an administrator: a caller of the realm routes */
} adm;

bool kh_admin_owns_path(const char *path)
{
    size_t n = strlen(PREFIX);
    return strncmp(path, PREFIX, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* ---- replies ------------------------------------------------------------ */

static void reply_json(adm *a, int status, json_t *j)
{
    kh_admin_reply(a->r, status, j);
}

static void fail(adm *a, kh_err err, const char *message)
{
    kh_admin_fail(a->r, err, 0, message);
}

static void method_not_allowed(adm *a, const char *allow)
{
    kh_admin_not_allowed(a->r, allow);
}

static json_t *user_json(const kh_user_row *u)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:b}", "id", u->id, "organization",
                     u->organization, "label", u->label, "email", u->email, "profile", u->profile,
                     "created_at", kh_admin_time(u->created_at), "updated_at", kh_admin_time(u->at),
                     "revoked_at", kh_admin_time(u->revoked_at), "revoked", u->revoked_at != 0);
}

static json_t *state_json(const kh_user_row *u)
{
    return json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:b}", "at", kh_admin_time(u->at), "change",
                     u->change, "actor", u->actor, "label", u->label, "email", u->email, "profile",
                     u->profile, "revoked", u->revoked_at != 0);
}

static json_t *identity_json(const kh_identity_row *i)
{
    return json_pack("{s:s, s:o, s:o, s:b}", "identity", i->identity, "created_at",
                     kh_admin_time(i->created_at), "removed_at", kh_admin_time(i->removed_at),
                     "active", i->removed_at == 0);
}

static json_t *apikey_json(const kh_apikey_row *k)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "id", k->id, "user_id", k->user_id, "label",
                     k->label, "created_at", kh_admin_time(k->created_at), "revoked_at",
                     kh_admin_time(k->revoked_at), "revoked", k->revoked_at != 0);
}

/* ---- request bodies ----------------------------------------------------- */

/* A string member of the body, NULL when absent; *bad set when present but
 * not a string. */
static const char *body_str(adm *a, const char *name, bool *bad)
{
    json_t *v = a->body ? json_object_get(a->body, name) : NULL;
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static bool need_str(adm *a, const char *name, const char **out)
{
    bool bad = false;
    *out = body_str(a, name, &bad);
    if (bad || !*out || !**out) {
        char msg[96];
        snprintf(msg, sizeof(msg), "\"%s\" must be a non-empty string", name);
        fail(a, KH_ERR_MISSING_DATA, msg);
        return false;
    }
    return true;
}

/* ---- organizations ------------------------------------------------------ */

static void orgs(adm *a)
{
    if (a->req->method == KH_HTTP_GET) {
        kh_org_row *rows = NULL;
        size_t n = 0;
        kh_err err = kh_store_org_list(a->svc->store, &rows, &n);
        if (err != KH_OK) {
            fail(a, err, NULL);
            return;
        }
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, json_pack("{s:s, s:o}", "id", rows[i].id, "created_at",
                                                  kh_admin_time(rows[i].created_at)));
        kh_org_rows_free(rows, n);
        {
            reply_json(a, 200, json_pack("{s:o}", "organizations", list));
            return;
        }
    }
    if (a->req->method != KH_HTTP_POST) {
        method_not_allowed(a, "GET, POST");
        return;
    }
    const char *id;
    if (!need_str(a, "id", &id))
        return;
    kh_err err = kh_op_org_create(&a->ctx, id);
    if (err == KH_ERR_EXISTS) {
        fail(a, err, "organization already exists");
        return;
    }
    if (err == KH_ERR_INVALID_FIELD) {
        fail(a, err, "organization ids are 1 to 64 of [A-Za-z0-9._-]");
        return;
    }
    if (err != KH_OK) {
        fail(a, err, NULL);
        return;
    }
    reply_json(a, 201, json_pack("{s:s, s:o}", "id", id, "created_at", kh_admin_time(a->ctx.now)));
}

/* ---- users -------------------------------------------------------------- */

/* All users, or those of organization (not NULL). */
static void users_list(adm *a, const char *organization)
{
    kh_user_row *rows = NULL;
    size_t n = 0;
    kh_err err = kh_store_user_list(a->svc->store, organization, &rows, &n);
    if (err != KH_OK) {
        fail(a, err, NULL);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, user_json(&rows[i]));
    kh_user_rows_free(rows, n);
    reply_json(a, 200, json_pack("{s:o}", "users", list));
}

static void user_result(adm *a, kh_err err, int status, kh_user_row *u)
{
    if (err == KH_ERR_NOT_FOUND) {
        fail(a, err, "no such user or organization");
        return;
    }
    if (err == KH_ERR_WRONG_STATE) {
        fail(a, err, "the user is revoked");
        return;
    }
    if (err == KH_ERR_MISSING_DATA) {
        fail(a, err, "nothing to change: give label, email or profile");
        return;
    }
    if (err == KH_ERR_INVALID_FIELD) {
        fail(a, err,
             "invalid field: label (required, printable), email, profile (ADMIN, "
             "STANDARD or OUTSIDER) or organization");
        return;
    }
    if (err != KH_OK) {
        fail(a, err, NULL);
        return;
    }
    reply_json(a, status, user_json(u));
    kh_user_row_clear(u);
}

static void users_create(adm *a)
{
    bool bad = false;
    const char *label;
    if (!need_str(a, "label", &label))
        return;
    const char *email = body_str(a, "email", &bad), *profile = body_str(a, "profile", &bad);
    const char *org = body_str(a, "organization", &bad);
    if (bad) {
        fail(a, KH_ERR_INVALID_FIELD, "email, profile and organization must be strings");
        return;
    }
    kh_user_row u = {0};
    kh_err err = kh_op_user_create(&a->ctx, org, label, email, profile, &u);
    user_result(a, err, 201, &u);
}

static void user_show(adm *a, const char *id)
{
    kh_user_row *hist = NULL;
    kh_identity_row *ids = NULL;
    kh_apikey_row *keys = NULL;
    size_t nh = 0, ni = 0, nk = 0;
    kh_err err = kh_store_user_history(a->svc->store, id, &hist, &nh);
    if (err == KH_OK && nh == 0)
        err = KH_ERR_NOT_FOUND;
    if (err == KH_OK)
        err = kh_store_identity_list(a->svc->store, id, &ids, &ni);
    if (err == KH_OK)
        err = kh_store_apikey_list(a->svc->store, id, &keys, &nk);
    if (err == KH_OK) {
        json_t *u = user_json(&hist[nh - 1]), *h = json_array(), *il = json_array();
        json_t *kl = json_array();
        for (size_t i = 0; i < nh; i++)
            json_array_append_new(h, state_json(&hist[i]));
        for (size_t i = 0; i < ni; i++)
            json_array_append_new(il, identity_json(&ids[i]));
        for (size_t i = 0; i < nk; i++)
            json_array_append_new(kl, apikey_json(&keys[i]));
        json_object_set_new(u, "history", h);
        json_object_set_new(u, "identities", il);
        json_object_set_new(u, "api_keys", kl);
        reply_json(a, 200, u);
    } else {
        fail(a, err, err == KH_ERR_NOT_FOUND ? "no such user" : NULL);
    }
    kh_user_rows_free(hist, nh);
    kh_identity_rows_free(ids, ni);
    kh_apikey_rows_free(keys, nk);
}

static void user_update(adm *a, const char *id)
{
    bool bad = false;
    const char *label = body_str(a, "label", &bad), *email = body_str(a, "email", &bad);
    const char *profile = body_str(a, "profile", &bad);
    if (bad) {
        fail(a, KH_ERR_INVALID_FIELD, "label, email and profile must be strings");
        return;
    }
    kh_user_row u = {0};
    user_result(a, kh_op_user_update(&a->ctx, id, label, email, profile, &u), 200, &u);
}

static void identities(adm *a, const char *user_id)
{
    kh_http_method m = a->req->method;
    if (m == KH_HTTP_GET) {
        kh_identity_row *ids = NULL;
        size_t n = 0;
        kh_user_row u = {0};
        kh_err err = kh_store_user_get(a->svc->store, user_id, &u);
        kh_user_row_clear(&u);
        if (err == KH_OK)
            err = kh_store_identity_list(a->svc->store, user_id, &ids, &n);
        if (err != KH_OK) {
            fail(a, err, err == KH_ERR_NOT_FOUND ? "no such user" : NULL);
            return;
        }
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, identity_json(&ids[i]));
        kh_identity_rows_free(ids, n);
        {
            reply_json(a, 200, json_pack("{s:o}", "identities", list));
            return;
        }
    }
    if (m != KH_HTTP_POST && m != KH_HTTP_DELETE) {
        method_not_allowed(a, "GET, POST, DELETE");
        return;
    }
    const char *identity;
    if (!need_str(a, "identity", &identity))
        return;
    kh_err err = m == KH_HTTP_POST ? kh_op_identity_add(&a->ctx, user_id, identity)
                                   : kh_op_identity_remove(&a->ctx, user_id, identity);
    if (err == KH_ERR_INVALID_FIELD) {
        fail(a, err, "identity must be tls:<64 lower-case hex> or jwt:<issuer>#<subject>");
        return;
    }
    if (err == KH_ERR_EXISTS) {
        fail(a, err, "identity already mapped to a user");
        return;
    }
    if (err == KH_ERR_NOT_FOUND) {
        fail(a, err, m == KH_HTTP_POST ? "no such user" : "no such identity for this user");
        return;
    }
    if (err != KH_OK) {
        fail(a, err, NULL);
        return;
    }
    reply_json(a, m == KH_HTTP_POST ? 201 : 200,
               json_pack("{s:s, s:s, s:b}", "user_id", user_id, "identity", identity, "active",
                         m == KH_HTTP_POST));
}

static void apikeys(adm *a, const char *user_id)
{
    if (a->req->method == KH_HTTP_GET) {
        kh_apikey_row *keys = NULL;
        size_t n = 0;
        kh_user_row u = {0};
        kh_err err = kh_store_user_get(a->svc->store, user_id, &u);
        kh_user_row_clear(&u);
        if (err == KH_OK)
            err = kh_store_apikey_list(a->svc->store, user_id, &keys, &n);
        if (err != KH_OK) {
            fail(a, err, err == KH_ERR_NOT_FOUND ? "no such user" : NULL);
            return;
        }
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, apikey_json(&keys[i]));
        kh_apikey_rows_free(keys, n);
        {
            reply_json(a, 200, json_pack("{s:o}", "api_keys", list));
            return;
        }
    }
    if (a->req->method != KH_HTTP_POST) {
        method_not_allowed(a, "GET, POST");
        return;
    }
    bool bad = false;
    const char *label = body_str(a, "label", &bad);
    if (bad) {
        fail(a, KH_ERR_INVALID_FIELD, "label must be a string");
        return;
    }
    kh_apikey_row k = {0};
    char *token = NULL;
    kh_err err = kh_op_apikey_create(&a->ctx, user_id, label, &k, &token);
    if (err != KH_OK) {
        fail(a, err,
             err == KH_ERR_NOT_FOUND     ? "no such user"
             : err == KH_ERR_WRONG_STATE ? "the user is revoked"
                                         : NULL);
        return;
    }
    json_t *j = apikey_json(&k);
    json_object_set_new(j, "api_key", json_string(token));
    reply_json(a, 201, j); /* the jansson allocator wipes the copy it held */
    kh_wipe_free(token, strlen(token));
    kh_apikey_row_clear(&k);
}

static void apikey_revoke(adm *a, const char *id)
{
    if (a->req->method != KH_HTTP_DELETE) {
        method_not_allowed(a, "DELETE");
        return;
    }
    kh_err err = kh_op_apikey_revoke(&a->ctx, id, NULL);
    if (err != KH_OK) {
        fail(a, err, err == KH_ERR_NOT_FOUND ? "no such active API key" : NULL);
        return;
    }
    reply_json(a, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

static void users(adm *a, char **seg, int n)
{
    kh_http_method m = a->req->method;
    if (n == 1 && m == KH_HTTP_GET) {
        users_list(a, NULL);
        return;
    }
    if (n == 1 && m == KH_HTTP_POST) {
        users_create(a);
        return;
    }
    if (n == 1) {
        method_not_allowed(a, "GET, POST");
        return;
    }
    if (n == 2 && m == KH_HTTP_GET) {
        user_show(a, seg[1]);
        return;
    }
    if (n == 2 && m == KH_HTTP_PATCH) {
        user_update(a, seg[1]);
        return;
    }
    if (n == 2) {
        method_not_allowed(a, "GET, PATCH");
        return;
    }
    if (n == 3 && strcmp(seg[2], "revoke") == 0) {
        if (m != KH_HTTP_POST) {
            method_not_allowed(a, "POST");
            return;
        }
        kh_user_row u = {0};
        {
            user_result(a, kh_op_user_revoke(&a->ctx, seg[1], &u), 200, &u);
            return;
        }
    }
    if (n == 3 && strcmp(seg[2], "identities") == 0) {
        identities(a, seg[1]);
        return;
    }
    if (n == 3 && strcmp(seg[2], "api-keys") == 0) {
        apikeys(a, seg[1]);
        return;
    }
    fail(a, KH_ERR_NOT_FOUND, "no such route");
}

/* ---- grants ------------------------------------------------------------- */

static kh_err body_perms(adm *a, uint32_t *perms)
{
    json_t *v = a->body ? json_object_get(a->body, "permissions") : NULL;
    if (json_is_string(v))
        return kh_perm_parse(json_string_value(v), perms);
    if (!json_is_array(v) || json_array_size(v) == 0)
        return KH_ERR_INVALID_FIELD;
    uint32_t all = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        uint32_t one = 0;
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e) || kh_perm_parse(json_string_value(e), &one) != KH_OK)
            return KH_ERR_INVALID_FIELD;
        all |= one;
    }
    *perms = all;
    return KH_OK;
}

static void grants_list(adm *a, kh_ctx *owner)
{
    kh_grant_row *rows = NULL;
    size_t n = 0;
    kh_err err = kh_op_list_grants(owner, NULL, &rows, &n);
    if (err != KH_OK) {
        fail(a, err, NULL);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        char perms[512];
        kh_perm_format(rows[i].permissions, perms, sizeof(perms));
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "owner", rows[i].owner,
                                              "object", rows[i].object_uid, "grantee",
                                              rows[i].grantee, "permissions", perms));
    }
    kh_grant_rows_free(rows, n);
    reply_json(a, 200, json_pack("{s:o}", "grants", list));
}

static void grants(adm *a, const char *owner)
{
    kh_ctx oc = a->ctx; /* acting as the owner, who alone may grant */
    oc.principal = owner;
    oc.identity = NULL;
    kh_http_method m = a->req->method;
    if (m == KH_HTTP_GET) {
        grants_list(a, &oc);
        return;
    }
    if (m != KH_HTTP_POST && m != KH_HTTP_DELETE) {
        method_not_allowed(a, "GET, POST, DELETE");
        return;
    }
    const char *object, *grantee;
    uint32_t perms = 0;
    if (!need_str(a, "object", &object) || !need_str(a, "grantee", &grantee))
        return;
    if (body_perms(a, &perms) != KH_OK) {
        fail(a, KH_ERR_INVALID_FIELD,
             "permissions must name known permissions (docs/authorization.md)");
        return;
    }
    kh_err err = m == KH_HTTP_POST ? kh_op_grant(&oc, object, grantee, perms)
                                   : kh_op_revoke_grant(&oc, object, grantee, perms);
    (void)kh_audit_record(&a->ctx, m == KH_HTTP_POST ? "Grant" : "RevokeGrant", object, err);
    if (err != KH_OK) {
        fail(a, err,
             err == KH_ERR_NOT_FOUND
                 ? (m == KH_HTTP_POST ? "the owner has no such object" : "no such grant")
                 : NULL);
        return;
    }
    char names[512];
    kh_perm_format(perms, names, sizeof(names));
    reply_json(a, m == KH_HTTP_POST ? 201 : 200,
               json_pack("{s:s, s:s, s:s, s:s}", "owner", owner, "object", object, "grantee",
                         grantee, "permissions", names));
}

/* ---- dispatch ----------------------------------------------------------- */

/* An owner principal: printable ASCII without spaces, as every principal
 * keyhold makes is (a user id, a certificate's hex, an identity). */
static bool principal_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= KH_WHO_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Split path (after PREFIX "/") into at most MAX_SEGS segments, the last
 * one keeping any further slashes. */
static int split(char *path, char **seg)
{
    int n = 0;
    char *p = path;
    while (*p && n < MAX_SEGS) {
        seg[n++] = p;
        char *slash = strchr(p, '/');
        if (!slash || n == MAX_SEGS)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    return n;
}

static void dispatch(adm *a)
{
    char path[KH_HTTP_PATH_MAX], *seg[MAX_SEGS] = {0};
    const char *rest = a->req->path + strlen(PREFIX);
    snprintf(path, sizeof(path), "%s", *rest == '/' ? rest + 1 : rest);
    if (strcmp(path, "kes") == 0 || strncmp(path, "kes/", 4) == 0) {
        kh_admin_kes_handle(&a->ctx, a->req, path, a->body, a->r);
        return;
    }
    if (strncmp(path, "realms", 6) == 0 && (path[6] == '\0' || path[6] == '/')) {
        kh_admin_realms(&a->ctx, !a->member, a->req, a->body, path + 6, a->r);
        return;
    }
    if (strncmp(path, "grants/", 7) == 0) {
        if (!kh_admin_pct_decode(path + 7) || !principal_ok(path + 7)) {
            fail(a, KH_ERR_INVALID_FIELD, "malformed owner in the path");
            return;
        }
        {
            grants(a, path + 7);
            return;
        }
    }
    int n = split(path, seg);
    for (int i = 0; i < n; i++)
        if (!*seg[i] || strchr(seg[i], '/') || strchr(seg[i], '%')) {
            fail(a, KH_ERR_NOT_FOUND, "no such route");
            return;
        }
    if (n == 1 && strcmp(seg[0], "organizations") == 0) {
        orgs(a);
        return;
    }
    if (n == 3 && strcmp(seg[0], "organizations") == 0 && strcmp(seg[2], "users") == 0) {
        if (a->req->method != KH_HTTP_GET)
            method_not_allowed(a, "GET");
        else
            users_list(a, seg[1]);
        return;
    }
    if (n >= 1 && strcmp(seg[0], "users") == 0) {
        users(a, seg, n);
        return;
    }
    if (n == 2 && strcmp(seg[0], "api-keys") == 0) {
        apikey_revoke(a, seg[1]);
        return;
    }
    fail(a, KH_ERR_NOT_FOUND, "no such route");
}

/* Token, or an ADMIN user; 401/403 otherwise. */
static bool authorize(adm *a)
{
    const kh_http_request *req = a->req;
    if (kh_authn_is_admin_token(a->svc->authn, req)) {
        snprintf(a->who.principal, sizeof(a->who.principal), "%s", TOKEN_ACTOR);
        return true;
    }
    kh_err err = KH_ERR_AUTH;
    if (req->authorization[0] || req->peer.principal[0])
        err = kh_authn_who(a->svc, req, &a->who);
    if (err == KH_OK && !kh_who_is_admin(&a->who)) {
        /* realm OWNERs and MANAGERs manage their realms' members here
         * too; admin_realms.c checks their role */
        if (kh_admin_realms_for_members(req))
            return a->member = true;
        err = KH_ERR_PERMISSION;
    }
    if (err == KH_OK)
        return true;
    a->ctx.principal = a->who.principal[0] ? a->who.principal : "";
    (void)kh_audit_record(&a->ctx, "Admin", "", err);
    if (err == KH_ERR_PERMISSION)
        fail(a, err, "the admin API needs the administration token or an ADMIN user");
    else if (err == KH_ERR_AUTH)
        fail(a, err, "authentication required: the administration token or an ADMIN user");
    else
        fail(a, err, NULL);
    return false;
}

void kh_admin_handle(kh_service *svc, const kh_http_request *req, kh_http_reply *r)
{
    adm a;
    memset(&a, 0, sizeof(a));
    a.svc = svc;
    a.req = req;
    a.r = r;
    r->label = "admin";
    kh_authn_client_addr(svc->authn, req, a.addr, sizeof(a.addr));
    a.ctx.now = (int64_t)time(NULL);
    a.ctx.svc = svc;
    a.ctx.client_addr = a.addr;
    a.ctx.principal = "";
    if (!authorize(&a))
        return;
    a.ctx.principal = a.who.principal;
    a.ctx.identity = a.who.user_id[0] ? a.who.identity : NULL;
    if (req->body.len > 0) {
        a.body = kh_kmip_json_parse((const char *)req->body.data, req->body.len);
        if (!json_is_object(a.body)) {
            json_decref(a.body);
            {
                fail(&a, KH_ERR_DECODE, "the body must be a JSON object");
                return;
            }
        }
    }
    dispatch(&a);
    /* Changes audit themselves (with their object); reads are recorded
     * here, so that who looked at what is in the log too. */
    if (req->method == KH_HTTP_GET)
        (void)kh_audit_record(&a.ctx, "AdminRead", req->path + strlen(PREFIX), r->result);
    json_decref(a.body);
}
