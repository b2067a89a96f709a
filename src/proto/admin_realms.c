/*
 * admin_realms.c - the realm routes of the admin API (docs/admin-api.md):
 *   GET|POST   /v1/admin/realms
 *   GET        /v1/admin/realms/{name}          (members and role history)
 *   PUT|DELETE /v1/admin/realms/{name}/members/{member}  (percent-encoded)
 * proto/admin.c has authenticated the caller: an administrator may do
 * everything here; anyone else only GET a realm it is a member of and
 * change members as its role allows (ops/realm.h decides). Every change is audited, with the realm
 * (and member) as the object.
 */
#include "proto/admin_realms.h"
#include "proto/admin_json.h"

#include "common/mem.h"
#include "ops/audit.h"
#include "ops/authz.h"
#include "ops/realm.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct rq {
    kh_ctx *ctx;
    bool admin; /* false: a realm member, limited to its role */
    const kh_http_request *req;
    json_t *body;
    kh_http_reply *r;
} rq;

static void reply(rq *q, int status, json_t *j)
{
    kh_admin_reply(q->r, status, j);
}

static void fail(rq *q, kh_err err, const char *message)
{
    kh_admin_fail(q->r, err, 0, message);
}

static void not_allowed(rq *q, const char *allow)
{
    kh_admin_not_allowed(q->r, allow);
}

static json_t *realm_json(const kh_realm_row *r)
{
    return json_pack("{s:s, s:I, s:o}", "name", r->name, "id", (json_int_t)r->id, "created_at",
                     kh_admin_time(r->created_at));
}

static json_t *member_json(const kh_member_row *m)
{
    char perms[512];
    kh_perm_format(m->permissions, perms, sizeof(perms));
    json_t *j = json_pack("{s:s, s:s, s:s, s:o, s:s, s:b}", "member", m->member, "role", m->role,
                          "permissions", perms, "granted_at", kh_admin_time(m->granted_at),
                          "granted_by", m->granted_by, "active", m->removed_at == 0);
    if (j && m->removed_at) {
        json_object_set_new(j, "removed_at", kh_admin_time(m->removed_at));
        json_object_set_new(j, "removed_by", json_string(m->removed_by));
    }
    return j;
}

/* A string member of the body: NULL when absent, *bad when not a string. */
static const char *body_str(rq *q, const char *name, bool *bad)
{
    json_t *v = q->body ? json_object_get(q->body, name) : NULL;
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static void realms_list(rq *q)
{
    kh_realm_row *rows = NULL;
    size_t n = 0;
    kh_err err = kh_store_realm_list(q->ctx->svc->store, &rows, &n);
    if (err != KH_OK) {
        fail(q, err, NULL);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, realm_json(&rows[i]));
    kh_realm_rows_free(rows, n);
    reply(q, 200, json_pack("{s:o}", "realms", list));
}

static void realm_create(rq *q)
{
    bool bad = false;
    const char *name = body_str(q, "name", &bad), *owner = body_str(q, "owner", &bad);
    if (bad || !name) {
        fail(q, KH_ERR_MISSING_DATA, "\"name\" must be a string; \"owner\", if given, too");
        return;
    }
    int64_t id = 0;
    kh_err err = kh_op_realm_create(q->ctx, name, owner, &id);
    (void)kh_audit_record(q->ctx, "RealmCreate", name, err);
    if (err == KH_ERR_EXISTS)
        fail(q, err, "realm already exists");
    else if (err == KH_ERR_INVALID_FIELD)
        fail(q, err, "realm names are 1 to 64 of [A-Za-z0-9._-]; owner a principal, not \"*\"");
    else if (err != KH_OK)
        fail(q, err, NULL);
    else
        reply(q, 201,
              json_pack("{s:s, s:I, s:o, s:o}", "name", name, "id", (json_int_t)id, "created_at",
                        kh_admin_time(q->ctx->now), "owner",
                        owner ? json_string(owner) : json_null()));
}

static void realm_show(rq *q, const char *name)
{
    kh_realm_row r = {0};
    kh_member_row *rows = NULL;
    size_t n = 0;
    kh_err err = kh_realm_name_ok(name) ? kh_store_realm_find(q->ctx->svc->store, name, 0, &r)
                                        : KH_ERR_NOT_FOUND;
    if (err == KH_OK && !q->admin) {
        kh_member_row mine = {0}; /* a realm is invisible to non-members */
        err = kh_store_member_get(q->ctx->svc->store, r.id, q->ctx->principal, &mine);
        kh_member_row_clear(&mine);
    }
    if (err == KH_OK)
        err = kh_store_member_history(q->ctx->svc->store, r.id, &rows, &n);
    if (err != KH_OK) {
        fail(q, err, err == KH_ERR_NOT_FOUND ? "no such realm" : NULL);
        free(r.name);
        return;
    }
    json_t *members = json_array(), *history = json_array();
    for (size_t i = 0; i < n; i++) {
        if (rows[i].removed_at == 0)
            json_array_append_new(members, member_json(&rows[i]));
        json_array_append_new(history, member_json(&rows[i]));
    }
    json_t *j = realm_json(&r);
    if (j) {
        json_object_set_new(j, "members", members);
        json_object_set_new(j, "history", history);
    } else {
        json_decref(members);
        json_decref(history);
    }
    kh_member_rows_free(rows, n);
    free(r.name);
    reply(q, 200, j);
}

/* "permissions": a comma list or an array of names (ops/authz.h); 0 when
 * absent, KH_ERR_INVALID_FIELD when present but naming nothing known. */
static kh_err body_perms(rq *q, uint32_t *perms)
{
    json_t *v = q->body ? json_object_get(q->body, "permissions") : NULL;
    *perms = 0;
    if (!v || json_is_null(v))
        return KH_OK;
    if (json_is_string(v))
        return kh_perm_parse(json_string_value(v), perms) == KH_OK ? KH_OK : KH_ERR_INVALID_FIELD;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return KH_ERR_INVALID_FIELD;
    for (size_t i = 0; i < json_array_size(v); i++) {
        uint32_t one = 0;
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e) || kh_perm_parse(json_string_value(e), &one) != KH_OK)
            return KH_ERR_INVALID_FIELD;
        *perms |= one;
    }
    return KH_OK;
}

static void member_change(rq *q, const char *realm, const char *member)
{
    bool bad = false;
    const char *role = NULL;
    uint32_t perms = 0;
    if (q->req->method == KH_HTTP_PUT) {
        role = body_str(q, "role", &bad);
        if (bad || body_perms(q, &perms) != KH_OK || (!role && !perms)) {
            fail(q, KH_ERR_MISSING_DATA,
                 "give \"role\" (OWNER, MANAGER, CONTRIBUTOR, READER) or \"permissions\"");
            return;
        }
        if (!role)
            role = "GRANT"; /* a realm-level grant of named permissions */
    }
    char object[2 * KH_HTTP_PATH_MAX + 16];
    snprintf(object, sizeof(object), "realm:%s/%s", realm, member);
    kh_err err = kh_op_realm_member_set(q->ctx, q->admin, realm, member, role, perms);
    (void)kh_audit_record(q->ctx, role ? "RealmMemberSet" : "RealmMemberRemove", object, err);
    if (err == KH_ERR_NOT_FOUND) {
        fail(q, err, role ? "no such realm" : "no such realm or member");
        return;
    }
    if (err == KH_ERR_INVALID_FIELD) {
        fail(q, err,
             "give either a role (OWNER, MANAGER, CONTRIBUTOR, READER; \"*\" not OWNER or "
             "MANAGER) or permissions");
        return;
    }
    if (err == KH_ERR_PERMISSION) {
        fail(q, err, "your role in the realm does not allow this change");
        return;
    }
    if (err != KH_OK) {
        fail(q, err, NULL);
        return;
    }
    char names[512];
    kh_perm_format(role && strcmp(role, "GRANT") == 0 ? perms : kh_realm_role_perms(role), names,
                   sizeof(names));
    reply(q, 200,
          json_pack("{s:s, s:s, s:o, s:s}", "realm", realm, "member", member, "role",
                    role ? json_string(role) : json_null(), "permissions", names));
}

bool kh_admin_realms_for_members(const kh_http_request *req)
{
    static const char prefix[] = "/v1/admin/realms/";
    if (strncmp(req->path, prefix, sizeof(prefix) - 1) != 0)
        return false;
    /* a realm's name first: "/v1/admin/realms/" alone is the list of every
     * realm, for administrators only */
    const char *name = req->path + sizeof(prefix) - 1;
    if (*name == '\0' || *name == '/')
        return false;
    const char *slash = strchr(name, '/');
    if (!slash) /* a realm's page */
        return req->method == KH_HTTP_GET;
    return (req->method == KH_HTTP_PUT || req->method == KH_HTTP_DELETE) &&
           strncmp(slash, "/members/", 9) == 0;
}

void kh_admin_realms(kh_ctx *ctx, bool admin, const kh_http_request *req, json_t *body,
                     const char *rest, kh_http_reply *r)
{
    rq q = {ctx, admin, req, body, r};
    if (!admin && !kh_admin_realms_for_members(req)) {
        fail(&q, KH_ERR_PERMISSION,
             "the admin API needs the administration token or an ADMIN user");
        return;
    }
    char path[KH_HTTP_PATH_MAX];
    snprintf(path, sizeof(path), "%s", *rest == '/' ? rest + 1 : rest);
    kh_http_method m = req->method;
    if (!*path) {
        if (m == KH_HTTP_GET)
            realms_list(&q);
        else if (m == KH_HTTP_POST)
            realm_create(&q);
        else
            not_allowed(&q, "GET, POST");
        return;
    }
    char *slash = strchr(path, '/');
    if (!slash) {
        if (m == KH_HTTP_GET)
            realm_show(&q, path);
        else
            not_allowed(&q, "GET");
        return;
    }
    *slash = '\0';
    char *member = slash + 1;
    if (strncmp(member, "members/", 8) != 0 || !member[8] || strchr(member + 8, '/')) {
        fail(&q, KH_ERR_NOT_FOUND, "no such route");
        return;
    }
    member += 8;
    if (!kh_admin_pct_decode(member)) {
        fail(&q, KH_ERR_INVALID_FIELD, "malformed member in the path");
        return;
    }
    if (m != KH_HTTP_PUT && m != KH_HTTP_DELETE) {
        not_allowed(&q, "PUT, DELETE");
        return;
    }
    member_change(&q, path, member);
}
