/*
 * admin_kes.c - KES policies and identity assignments through the admin
 * API (proto/admin_kes.h, docs/admin-api.md):
 *
 *   GET             /v1/admin/kes/policies
 *   GET|PUT|DELETE  /v1/admin/kes/policies/{name}     {"allow": [...], "deny": [...]}
 *   GET             /v1/admin/kes/identities
 *   GET|PUT|DELETE  /v1/admin/kes/identities/{identity}  {"policy": NAME}
 *
 * Reads come from the database, which every node shares; changes go
 * through ops/kes_policy_db.h, which stores, audits, reloads this node's
 * set and recomputes the KMIP grants. This file only parses, validates
 * with a message that says what is wrong, and formats.
 */
#include "proto/admin_kes.h"
#include "proto/admin_json.h"

#include "ops/audit.h"
#include "ops/kes_ops.h"
#include "ops/kes_policy_db.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RULES_MAX 256 /* allow or deny rules in one policy */

/* ---- replies ------------------------------------------------------------- */

static json_t *strings_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *policy_json(const kh_kes_policy_row *p, const kh_kes_assignment_row *asg, size_t na)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < na; i++)
        if (strcmp(asg[i].policy, p->name) == 0)
            json_array_append_new(ids, json_string(asg[i].identity));
    return json_pack("{s:s, s:o, s:o, s:o, s:s, s:o}", "name", p->name, "allow",
                     strings_json(p->allow, p->n_allow), "deny", strings_json(p->deny, p->n_deny),
                     "created_at", kh_admin_time(p->created_at), "created_by", p->created_by,
                     "identities", ids);
}

static json_t *assignment_json(const kh_kes_assignment_row *a)
{
    return json_pack("{s:s, s:s, s:o, s:s}", "identity", a->identity, "policy", a->policy,
                     "assigned_at", kh_admin_time(a->assigned_at), "assigned_by", a->assigned_by);
}

/* ---- reads ----------------------------------------------------------------- */

typedef struct snapshot {
    kh_kes_policy_row *pols;
    size_t np;
    kh_kes_assignment_row *asg;
    size_t na;
} snapshot;

static kh_err snapshot_load(kh_store *s, snapshot *x)
{
    memset(x, 0, sizeof(*x));
    kh_err err = kh_store_kes_policy_list(s, &x->pols, &x->np);
    if (err == KH_OK)
        err = kh_store_kes_assignment_list(s, &x->asg, &x->na);
    return err;
}

static void snapshot_clear(snapshot *x)
{
    kh_kes_policy_rows_free(x->pols, x->np);
    kh_kes_assignment_rows_free(x->asg, x->na);
    memset(x, 0, sizeof(*x));
}

/* All policies (name NULL) or one. */
static void policies_get(kh_ctx *ctx, const char *name, kh_http_reply *r)
{
    snapshot x;
    kh_err err = snapshot_load(ctx->svc->store, &x);
    if (err != KH_OK) {
        kh_admin_fail(r, err, 0, NULL);
    } else if (!name) {
        json_t *list = json_array();
        for (size_t i = 0; i < x.np; i++)
            json_array_append_new(list, policy_json(&x.pols[i], x.asg, x.na));
        kh_admin_reply(r, 200, json_pack("{s:o}", "policies", list));
    } else {
        size_t i = 0;
        while (i < x.np && strcmp(x.pols[i].name, name) != 0)
            i++;
        if (i == x.np)
            kh_admin_fail(r, KH_ERR_NOT_FOUND, 404, "no such KES policy");
        else
            kh_admin_reply(r, 200, policy_json(&x.pols[i], x.asg, x.na));
    }
    snapshot_clear(&x);
}

static void identities_get(kh_ctx *ctx, const char *identity, kh_http_reply *r)
{
    snapshot x;
    kh_err err = snapshot_load(ctx->svc->store, &x);
    if (err != KH_OK) {
        kh_admin_fail(r, err, 0, NULL);
    } else if (!identity) {
        json_t *list = json_array();
        for (size_t i = 0; i < x.na; i++)
            json_array_append_new(list, assignment_json(&x.asg[i]));
        kh_admin_reply(r, 200, json_pack("{s:o}", "identities", list));
    } else {
        size_t i = 0;
        while (i < x.na && strcmp(x.asg[i].identity, identity) != 0)
            i++;
        if (i == x.na)
            kh_admin_fail(r, KH_ERR_NOT_FOUND, 404, "no policy is assigned to that identity");
        else
            kh_admin_reply(r, 200, assignment_json(&x.asg[i]));
    }
    snapshot_clear(&x);
}

/* ---- changes --------------------------------------------------------------- */

static bool rule_ok(const char *s, size_t len)
{
    if (len == 0 || len > KH_KES_RULE_MAX || s[0] != '/' || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* body[key] (absent = none) into a list of borrowed strings; false with
 * msg filled when it is not an array of well-formed rules. */
static bool rules_of(const json_t *body, const char *key, const char ***v, size_t *n, char *msg,
                     size_t msg_size)
{
    const json_t *a = json_object_get(body, key);
    *v = NULL;
    *n = 0;
    if (!a || json_is_null(a))
        return true;
    if (!json_is_array(a) || json_array_size(a) > RULES_MAX) {
        snprintf(msg, msg_size, "\"%s\" must be an array of at most %d rules", key, RULES_MAX);
        return false;
    }
    *v = calloc(json_array_size(a) + 1, sizeof(**v));
    for (size_t i = 0; *v && i < json_array_size(a); i++) {
        const json_t *e = json_array_get(a, i);
        if (!json_is_string(e) || !rule_ok(json_string_value(e), json_string_length(e))) {
            snprintf(msg, msg_size,
                     "%s[%zu]: a rule is an API path starting with '/' (printable ASCII, no "
                     "spaces, at most %d bytes), optionally ending in '*', e.g. "
                     "\"/v1/key/generate/app-*\"",
                     key, i, KH_KES_RULE_MAX);
            return false;
        }
        (*v)[(*n)++] = json_string_value(e);
    }
    return *v != NULL;
}

static void policy_put(kh_ctx *ctx, const char *name, const json_t *body, kh_http_reply *r)
{
    char msg[256] = "";
    const char **allow = NULL, **deny = NULL;
    size_t na = 0, nd = 0;
    const char *key;
    json_t *val;
    if (!body) {
        kh_admin_fail(r, KH_ERR_MISSING_DATA, 400,
                      "the body must be {\"allow\": [...], \"deny\": [...]}");
        return;
    }
    json_object_foreach((json_t *)body, key, val)
    {
        if (strcmp(key, "allow") != 0 && strcmp(key, "deny") != 0) {
            snprintf(msg, sizeof(msg),
                     "unknown member \"%.64s\": a policy has \"allow\" and "
                     "\"deny\"",
                     key);
            kh_admin_fail(r, KH_ERR_INVALID_FIELD, 400, msg);
            return;
        }
    }
    if (rules_of(body, "allow", &allow, &na, msg, sizeof(msg)) &&
        rules_of(body, "deny", &deny, &nd, msg, sizeof(msg))) {
        kh_kes_policy p = {(char *)name, (char **)allow, na, (char **)deny, nd, 0, NULL};
        kh_err err = kh_op_kes_policy_put(ctx, &p);
        if (err == KH_OK)
            policies_get(ctx, name, r);
        else
            kh_admin_fail(r, err, err == KH_ERR_INVALID_ARG ? 400 : 0, NULL);
    } else {
        kh_admin_fail(r, KH_ERR_INVALID_FIELD, 400, msg);
    }
    free(allow);
    free(deny);
}

static void policy_delete(kh_ctx *ctx, const char *name, kh_http_reply *r)
{
    kh_err err = kh_op_kes_policy_delete(ctx, name);
    if (err == KH_OK)
        kh_admin_reply(r, 200, json_pack("{s:s, s:b}", "name", name, "deleted", 1));
    else
        kh_admin_fail(r, err, 0, err == KH_ERR_NOT_FOUND ? "no such KES policy" : NULL);
}

static void identity_put(kh_ctx *ctx, const char *identity, const json_t *body, kh_http_reply *r)
{
    const json_t *p = body ? json_object_get(body, "policy") : NULL;
    const char *policy = json_string_value(p);
    if (!policy || !kh_kes_name_valid(policy) || json_object_size(body) != 1) {
        kh_admin_fail(
            r, KH_ERR_INVALID_FIELD, 400,
            "the body must be {\"policy\": NAME} with the name of an existing KES policy");
        return;
    }
    kh_err err = kh_op_kes_assign(ctx, identity, policy);
    if (err == KH_OK)
        identities_get(ctx, identity, r);
    else if (err == KH_ERR_NOT_FOUND)
        kh_admin_fail(r, err, 404, "no such KES policy");
    else if (err == KH_ERR_INVALID_ARG)
        kh_admin_fail(
            r, err, 400,
            "that identity is this node's KES admin (--kes-admin-identity), which no policy "
            "limits");
    else
        kh_admin_fail(r, err, 0, NULL);
}

static void identity_delete(kh_ctx *ctx, const char *identity, kh_http_reply *r)
{
    kh_err err = kh_op_kes_unassign(ctx, identity);
    if (err == KH_OK)
        kh_admin_reply(r, 200, json_pack("{s:s, s:b}", "identity", identity, "assigned", 0));
    else
        kh_admin_fail(r, err, 0,
                      err == KH_ERR_NOT_FOUND ? "no policy is assigned to that identity" : NULL);
}

/* ---- dispatch -------------------------------------------------------------- */

static void policies(kh_ctx *ctx, const kh_http_request *req, const char *name, const json_t *body,
                     kh_http_reply *r)
{
    kh_http_method m = req->method;
    if (!name) {
        if (m == KH_HTTP_GET)
            policies_get(ctx, NULL, r);
        else
            kh_admin_not_allowed(r, "GET");
        return;
    }
    if (!kh_kes_name_valid(name)) {
        kh_admin_fail(
            r, KH_ERR_INVALID_FIELD, 400,
            "a KES policy name is 1 to 80 of [0-9A-Za-z_-], not starting or ending with '-'");
        return;
    }
    if (m == KH_HTTP_GET)
        policies_get(ctx, name, r);
    else if (m == KH_HTTP_PUT)
        policy_put(ctx, name, body, r);
    else if (m == KH_HTTP_DELETE)
        policy_delete(ctx, name, r);
    else
        kh_admin_not_allowed(r, "GET, PUT, DELETE");
}

static void identities(kh_ctx *ctx, const kh_http_request *req, const char *identity,
                       const json_t *body, kh_http_reply *r)
{
    kh_http_method m = req->method;
    if (!identity) {
        if (m == KH_HTTP_GET)
            identities_get(ctx, NULL, r);
        else
            kh_admin_not_allowed(r, "GET");
        return;
    }
    if (!kh_kes_identity_valid(identity)) {
        kh_admin_fail(
            r, KH_ERR_INVALID_FIELD, 400,
            "a KES identity is 64 lower-case hex digits (keyhold kes identity prints one)");
        return;
    }
    if (m == KH_HTTP_GET)
        identities_get(ctx, identity, r);
    else if (m == KH_HTTP_PUT)
        identity_put(ctx, identity, body, r);
    else if (m == KH_HTTP_DELETE)
        identity_delete(ctx, identity, r);
    else
        kh_admin_not_allowed(r, "GET, PUT, DELETE");
}

void kh_admin_kes_handle(kh_ctx *ctx, const kh_http_request *req, const char *path,
                         const json_t *body, kh_http_reply *r)
{
    static const char pol[] = "kes/policies", ids[] = "kes/identities";
    size_t np = sizeof(pol) - 1, ni = sizeof(ids) - 1;
    if (!ctx->svc->kes_policy_db) {
        kh_admin_fail(r, KH_ERR_UNSUPPORTED, 503, "KES policies are not kept by this server");
        return;
    }
    const char *arg = NULL;
    bool is_pol = strncmp(path, pol, np) == 0 && (path[np] == '\0' || path[np] == '/');
    bool is_ids = strncmp(path, ids, ni) == 0 && (path[ni] == '\0' || path[ni] == '/');
    if (is_pol && path[np] == '/')
        arg = path + np + 1;
    else if (is_ids && path[ni] == '/')
        arg = path + ni + 1;
    if (!is_pol && !is_ids) {
        kh_admin_fail(r, KH_ERR_NOT_FOUND, 404, "no such route");
        return;
    }
    if (arg && !*arg)
        arg = NULL; /* a trailing slash: the collection */
    if (is_pol)
        policies(ctx, req, arg, body, r);
    else
        identities(ctx, req, arg, body, r);
    /* A change refused here, before ops/ saw it (malformed body, name or
     * identity: the only places that answer KH_ERR_INVALID_FIELD or
     * KH_ERR_MISSING_DATA), is audited here; ops/ audits the rest. */
    bool change = arg && (req->method == KH_HTTP_PUT || req->method == KH_HTTP_DELETE);
    if (change && (r->result == KH_ERR_INVALID_FIELD || r->result == KH_ERR_MISSING_DATA)) {
        bool put = req->method == KH_HTTP_PUT;
        const char *op = is_pol ? (put ? "KesPolicyPut" : "KesPolicyDelete")
                                : (put ? "KesAssign" : "KesUnassign");
        (void)kh_audit_record(ctx, op, arg, r->result);
    }
}
