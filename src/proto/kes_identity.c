/*
 * kes_identity.c - the KES identity and policy routes
 * (/v1/identity/..., /v1/policy/...): answers from the policy set of
 * ops/kes_policy.h. Whether the caller may ask was decided before
 * (kes.c); this file only reads the set and writes JSON.
 */
#include "proto/kes_internal.h"

#include "proto/http_routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void str_member(kh_buf *out, const char *key, const char *value)
{
    kh_kes_append_str(out, key);
    kh_buf_append_u8(out, ':');
    kh_kes_append_str(out, value);
}

static void list_member(kh_buf *out, const char *key, char *const *v, size_t n)
{
    kh_kes_append_str(out, key);
    kh_buf_append(out, ":[", 2);
    for (size_t i = 0; i < n; i++) {
        if (i)
            kh_buf_append_u8(out, ',');
        kh_kes_append_str(out, v[i]);
    }
    kh_buf_append_u8(out, ']');
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* {"<key>": [names], "continue_at": ""}; names freed. */
static void reply_names(kh_http_reply *r, const char *key, char **v, size_t n)
{
    kh_buf_append_u8(&r->body, '{');
    list_member(&r->body, key, v, n);
    kh_buf_append(&r->body, ",\"continue_at\":\"\"}", 18);
    free_names(v, n);
    kh_kes_ok(r);
}

/* {"policy": name or "", "admin": true when so (then never a policy)} and
 * the policy's rules when asked; false when identity is unknown. */
static bool describe(const kh_kes_policies *pol, const char *identity, bool rules, kh_buf *out)
{
    char name[KH_KES_POLICY_NAME_MAX + 1] = "";
    bool admin =
        pol ? kh_kes_is_admin(pol, identity) : strcmp(identity, KH_HTTP_DEFAULT_PRINCIPAL) == 0;
    bool has = pol && !admin && kh_kes_identity_policy(pol, identity, name) == KH_OK;
    if (pol && !admin && !has)
        return false;
    str_member(out, "policy", name);
    if (admin)
        kh_buf_append(out, ",\"admin\":true", 13);
    kh_kes_policy p = {0};
    if (rules && has && kh_kes_policy_get(pol, name, &p) == KH_OK) {
        kh_buf_append_u8(out, ',');
        list_member(out, "allow", p.allow, p.n_allow);
        kh_buf_append_u8(out, ',');
        list_member(out, "deny", p.deny, p.n_deny);
    }
    kh_kes_policy_clear(&p);
    return true;
}

void kh_kes_reply_self(const kh_kes_policies *pol, const char *principal, kh_http_reply *r)
{
    kh_buf_append_u8(&r->body, '{');
    str_member(&r->body, "identity", principal);
    kh_buf_append_u8(&r->body, ',');
    if (!describe(pol, principal, true, &r->body)) /* no policy: say so */
        str_member(&r->body, "policy", "");
    kh_buf_append_u8(&r->body, '}');
    kh_kes_ok(r);
}

void kh_kes_reply_identity(const kh_kes_policies *pol, const char *principal, const char *id,
                           kh_http_reply *r)
{
    /* Without policies an identity knows only itself. */
    bool known = pol || strcmp(id, principal) == 0;
    kh_buf_append_u8(&r->body, '{');
    if (!known || !describe(pol, id, false, &r->body)) {
        kh_kes_fail(r, 404, KH_ERR_NOT_FOUND, "identity does not exist");
        return;
    }
    kh_buf_append_u8(&r->body, '}');
    kh_kes_ok(r);
}

void kh_kes_reply_identity_list(const kh_kes_policies *pol, const char *pattern, kh_http_reply *r)
{
    char **v = NULL;
    size_t n = 0;
    if (pol && kh_kes_identity_list(pol, pattern, &v, &n) != KH_OK)
        n = 0;
    reply_names(r, "identities", v, n);
}

static void time_member(kh_buf *out, const char *key, int64_t when)
{
    char s[32];
    time_t t = (time_t)when;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    str_member(out, key, s);
}

void kh_kes_reply_policy(const kh_kes_policies *pol, const char *name, bool read, kh_http_reply *r)
{
    kh_kes_policy p = {0};
    if (!pol || kh_kes_policy_get(pol, name, &p) != KH_OK) {
        kh_kes_fail(r, 404, KH_ERR_NOT_FOUND, "policy does not exist");
        return;
    }
    kh_buf *out = &r->body;
    kh_buf_append_u8(out, '{');
    str_member(out, "name", p.name);
    if (read) {
        kh_buf_append_u8(out, ',');
        list_member(out, "allow", p.allow, p.n_allow);
        kh_buf_append_u8(out, ',');
        list_member(out, "deny", p.deny, p.n_deny);
    }
    kh_buf_append_u8(out, ',');
    time_member(out, "created_at", p.created_at);
    kh_buf_append_u8(out, ',');
    str_member(out, "created_by", p.created_by);
    kh_buf_append_u8(out, '}');
    kh_kes_policy_clear(&p);
    kh_kes_ok(r);
}

void kh_kes_reply_policy_list(const kh_kes_policies *pol, const char *pattern, kh_http_reply *r)
{
    char **v = NULL;
    size_t n = 0;
    if (pol && kh_kes_policy_list(pol, pattern, &v, &n) != KH_OK)
        n = 0;
    reply_names(r, "names", v, n);
}
