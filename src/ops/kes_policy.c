/*
 * kes_policy.c - the in-memory set of KES policies and identity
 * assignments, and the allow/deny decision (kes_policy.h).
 *
 * Sets are small (tens of policies, hundreds of identities) and read on
 * every KES request, written rarely: plain arrays under one read-write
 * lock. Nothing here touches keys or the store.
 */
#include "ops/kes_policy.h"

#include "common/log.h"
#include "common/mem.h"
#include "ops/kes_ops.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDENTITY_LEN 64

typedef struct assignment {
    char identity[IDENTITY_LEN + 1];
    char policy[KH_KES_POLICY_NAME_MAX + 1];
} assignment;

struct kh_kes_policies {
    pthread_rwlock_t lock;
    char admin[IDENTITY_LEN + 1];
    kh_kes_policy *pol;
    size_t n_pol;
    assignment *ids;
    size_t n_ids;
};

/* ---- values ----------------------------------------------------------- */

static bool identity_ok(const char *id)
{
    if (!id || strlen(id) != IDENTITY_LEN)
        return false;
    for (size_t i = 0; i < IDENTITY_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

static bool rule_ok(const char *r)
{
    size_t n = r ? strnlen(r, KH_KES_RULE_MAX + 1) : 0;
    if (n == 0 || n > KH_KES_RULE_MAX || r[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if (r[i] <= 0x20 || r[i] >= 0x7f)
            return false;
    return true;
}

/* A trailing '*' matches any rest of the path (KES's prefix rule); a '*'
 * elsewhere matches within one path segment (as Go's path.Match, which
 * older KES configurations use: "/v1/key/<star>/my-app" allows any route on my-app).
 *
 * Linear in the path for each retry, never exponential, whatever the rule:
 * the path is the client's, and a rule with many stars must not let it
 * spin a worker. Greedy matching that, on a mismatch, only lets the last
 * star seen absorb one more character is complete here because stars
 * never absorb a '/': the rule's and the path's slashes pair up in order,
 * so an earlier segment's star has nothing to give to a later one. */
bool kh_kes_rule_match(const char *rule, const char *path)
{
    const char *r = rule, *p = path, *star = NULL, *resume = NULL;
    while (*p) {
        if (*r == '*') {
            if (r[1] == '\0')
                return true;
            star = r++;
            resume = p;
        } else if (*r == *p) {
            r++;
            p++;
        } else if (star && *resume != '/') {
            r = star + 1;
            p = ++resume; /* the star takes one more character */
        } else {
            return false;
        }
    }
    while (*r == '*')
        r++;
    return *r == '\0';
}

static char **dup_list(char *const *v, size_t n)
{
    char **out = kh_xcalloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = kh_xstrdup(v[i]);
    return out;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void kh_kes_policy_clear(kh_kes_policy *p)
{
    if (!p)
        return;
    free(p->name);
    free_list(p->allow, p->n_allow);
    free_list(p->deny, p->n_deny);
    free(p->created_by);
    memset(p, 0, sizeof(*p));
}

static void policy_copy(kh_kes_policy *dst, const kh_kes_policy *src)
{
    dst->name = kh_xstrdup(src->name);
    dst->allow = dup_list(src->allow, src->n_allow);
    dst->n_allow = src->n_allow;
    dst->deny = dup_list(src->deny, src->n_deny);
    dst->n_deny = src->n_deny;
    dst->created_at = src->created_at;
    dst->created_by = kh_xstrdup(src->created_by ? src->created_by : "");
}

static bool policy_ok(const kh_kes_policy *p)
{
    if (!p->name || !kh_kes_name_valid(p->name))
        return false;
    for (size_t i = 0; i < p->n_allow; i++)
        if (!rule_ok(p->allow[i]))
            return false;
    for (size_t i = 0; i < p->n_deny; i++)
        if (!rule_ok(p->deny[i]))
            return false;
    return true;
}

bool kh_kes_identity_valid(const char *identity)
{
    return identity_ok(identity);
}

bool kh_kes_policy_valid(const kh_kes_policy *p)
{
    return p && policy_ok(p);
}

/* ---- the set ---------------------------------------------------------- */

kh_kes_policies *kh_kes_policies_new(void)
{
    kh_kes_policies *p = kh_xcalloc(1, sizeof(*p));
    pthread_rwlock_init(&p->lock, NULL);
    return p;
}

void kh_kes_policies_free(kh_kes_policies **pp)
{
    kh_kes_policies *p = pp ? *pp : NULL;
    if (!p)
        return;
    for (size_t i = 0; i < p->n_pol; i++)
        kh_kes_policy_clear(&p->pol[i]);
    free(p->pol);
    free(p->ids);
    pthread_rwlock_destroy(&p->lock);
    free(p);
    *pp = NULL;
}

void kh_kes_policies_swap(kh_kes_policies *a, kh_kes_policies *b)
{
    if (!a || !b || a == b)
        return;
    pthread_rwlock_wrlock(&a->lock);
    pthread_rwlock_wrlock(&b->lock);
    kh_kes_policy *pol = a->pol;
    size_t n_pol = a->n_pol;
    assignment *ids = a->ids;
    size_t n_ids = a->n_ids;
    a->pol = b->pol;
    a->n_pol = b->n_pol;
    a->ids = b->ids;
    a->n_ids = b->n_ids;
    b->pol = pol;
    b->n_pol = n_pol;
    b->ids = ids;
    b->n_ids = n_ids;
    pthread_rwlock_unlock(&b->lock);
    pthread_rwlock_unlock(&a->lock);
}

static kh_kes_policy *find_policy(const kh_kes_policies *p, const char *name)
{
    for (size_t i = 0; i < p->n_pol; i++)
        if (strcmp(p->pol[i].name, name) == 0)
            return &p->pol[i];
    return NULL;
}

static assignment *find_identity(const kh_kes_policies *p, const char *id)
{
    for (size_t i = 0; i < p->n_ids; i++)
        if (strcmp(p->ids[i].identity, id) == 0)
            return &p->ids[i];
    return NULL;
}

kh_err kh_kes_admin_set(kh_kes_policies *p, const char *identity)
{
    if (identity && strcmp(identity, "disabled") == 0)
        identity = NULL; /* KES's way of saying "no admin" */
    if (identity && *identity && !identity_ok(identity))
        return KH_ERR_INVALID_ARG;
    pthread_rwlock_wrlock(&p->lock);
    kh_err err = KH_OK;
    if (identity && *identity && find_identity(p, identity))
        err = KH_ERR_INVALID_ARG;
    else
        snprintf(p->admin, sizeof(p->admin), "%s", identity ? identity : "");
    pthread_rwlock_unlock(&p->lock);
    return err;
}

static bool is_admin_locked(const kh_kes_policies *p, const char *identity)
{
    return p->admin[0] && strcmp(p->admin, identity) == 0;
}

bool kh_kes_is_admin(const kh_kes_policies *p, const char *identity)
{
    if (!p || !identity)
        return false;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&p->lock);
    bool yes = is_admin_locked(p, identity);
    pthread_rwlock_unlock((pthread_rwlock_t *)&p->lock);
    return yes;
}

kh_err kh_kes_policy_put(kh_kes_policies *p, const kh_kes_policy *src)
{
    if (!src || !policy_ok(src))
        return KH_ERR_INVALID_ARG;
    kh_kes_policy copy = {0};
    policy_copy(&copy, src);
    if (!copy.created_at)
        copy.created_at = (int64_t)time(NULL);
    pthread_rwlock_wrlock(&p->lock);
    kh_kes_policy *old = find_policy(p, src->name);
    if (old) {
        kh_kes_policy_clear(old);
        *old = copy;
    } else {
        p->pol = kh_xrealloc(p->pol, (p->n_pol + 1) * sizeof(*p->pol));
        p->pol[p->n_pol++] = copy;
    }
    pthread_rwlock_unlock(&p->lock);
    return KH_OK;
}

kh_err kh_kes_policy_get(const kh_kes_policies *p, const char *name, kh_kes_policy *out)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&p->lock);
    const kh_kes_policy *pol = find_policy(p, name);
    if (pol)
        policy_copy(out, pol);
    pthread_rwlock_unlock((pthread_rwlock_t *)&p->lock);
    return pol ? KH_OK : KH_ERR_NOT_FOUND;
}

kh_err kh_kes_policy_delete(kh_kes_policies *p, const char *name)
{
    pthread_rwlock_wrlock(&p->lock);
    kh_kes_policy *pol = find_policy(p, name);
    if (pol) {
        kh_kes_policy_clear(pol);
        *pol = p->pol[--p->n_pol];
        size_t w = 0;
        for (size_t i = 0; i < p->n_ids; i++)
            if (strcmp(p->ids[i].policy, name) != 0)
                p->ids[w++] = p->ids[i];
        p->n_ids = w;
    }
    pthread_rwlock_unlock(&p->lock);
    return pol ? KH_OK : KH_ERR_NOT_FOUND;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void push(char ***v, size_t *n, const char *s)
{
    *v = kh_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = kh_xstrdup(s);
}

kh_err kh_kes_policy_list(const kh_kes_policies *p, const char *pattern, char ***names, size_t *n)
{
    char **v = NULL;
    size_t len = 0;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&p->lock);
    for (size_t i = 0; i < p->n_pol; i++)
        if (kh_kes_pattern_match(pattern, p->pol[i].name))
            push(&v, &len, p->pol[i].name);
    pthread_rwlock_unlock((pthread_rwlock_t *)&p->lock);
    if (len)
        qsort(v, len, sizeof(*v), cmp_str);
    *names = v;
    *n = len;
    return KH_OK;
}

kh_err kh_kes_identity_assign(kh_kes_policies *p, const char *identity, const char *policy)
{
    if (!identity_ok(identity) || !policy)
        return KH_ERR_INVALID_ARG;
    kh_err err = KH_OK;
    pthread_rwlock_wrlock(&p->lock);
    if (is_admin_locked(p, identity)) {
        err = KH_ERR_INVALID_ARG;
    } else if (!find_policy(p, policy)) {
        err = KH_ERR_NOT_FOUND;
    } else {
        assignment *a = find_identity(p, identity);
        if (!a) {
            p->ids = kh_xrealloc(p->ids, (p->n_ids + 1) * sizeof(*p->ids));
            a = &p->ids[p->n_ids++];
            snprintf(a->identity, sizeof(a->identity), "%s", identity);
        }
        snprintf(a->policy, sizeof(a->policy), "%s", policy);
    }
    pthread_rwlock_unlock(&p->lock);
    return err;
}

kh_err kh_kes_identity_remove(kh_kes_policies *p, const char *identity)
{
    pthread_rwlock_wrlock(&p->lock);
    assignment *a = identity ? find_identity(p, identity) : NULL;
    if (a)
        *a = p->ids[--p->n_ids];
    pthread_rwlock_unlock(&p->lock);
    return a ? KH_OK : KH_ERR_NOT_FOUND;
}

kh_err kh_kes_identity_policy(const kh_kes_policies *p, const char *identity,
                              char out[KH_KES_POLICY_NAME_MAX + 1])
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&p->lock);
    const assignment *a = identity ? find_identity(p, identity) : NULL;
    if (a)
        snprintf(out, KH_KES_POLICY_NAME_MAX + 1, "%s", a->policy);
    pthread_rwlock_unlock((pthread_rwlock_t *)&p->lock);
    return a ? KH_OK : KH_ERR_NOT_FOUND;
}

/* Identity list patterns are KES's: a prefix with '*', or exact. */
static bool id_match(const char *pattern, const char *id)
{
    return kh_kes_pattern_match(pattern, id);
}

kh_err kh_kes_identity_list(const kh_kes_policies *p, const char *pattern, char ***ids, size_t *n)
{
    char **v = NULL;
    size_t len = 0;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&p->lock);
    if (p->admin[0] && id_match(pattern, p->admin))
        push(&v, &len, p->admin);
    for (size_t i = 0; i < p->n_ids; i++)
        if (id_match(pattern, p->ids[i].identity))
            push(&v, &len, p->ids[i].identity);
    pthread_rwlock_unlock((pthread_rwlock_t *)&p->lock);
    if (len)
        qsort(v, len, sizeof(*v), cmp_str);
    *ids = v;
    *n = len;
    return KH_OK;
}

static bool any_match(char *const *rules, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (kh_kes_rule_match(rules[i], path))
            return true;
    return false;
}

kh_err kh_kes_policy_check(const kh_kes_policies *p, const char *identity, const char *path)
{
    if (!p || !identity || !path)
        return KH_ERR_PERMISSION;
    kh_err err = KH_ERR_PERMISSION;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&p->lock);
    const assignment *a = NULL;
    const kh_kes_policy *pol = NULL;
    if (is_admin_locked(p, identity))
        err = KH_OK;
    else if ((a = find_identity(p, identity)) && (pol = find_policy(p, a->policy)) &&
             !any_match(pol->deny, pol->n_deny, path) && any_match(pol->allow, pol->n_allow, path))
        err = KH_OK;
    pthread_rwlock_unlock((pthread_rwlock_t *)&p->lock);
    return err;
}

/* ---- the policy file -------------------------------------------------- */

static kh_err file_error(const char *path, const char *what, const char *name)
{
    kh_error("kes policy file %s: %s%s%s", path, what, name ? " " : "", name ? name : "");
    return KH_ERR_CONFIG;
}

/* A JSON array of strings (or absent) into a fresh list. */
static bool string_list(const json_t *a, char ***v, size_t *n)
{
    *v = NULL;
    *n = 0;
    if (!a)
        return true;
    if (!json_is_array(a))
        return false;
    size_t i;
    const json_t *s;
    json_array_foreach(a, i, s)
    {
        if (!json_is_string(s))
            return false;
        push(v, n, json_string_value(s));
    }
    return true;
}

static kh_err load_policy(kh_kes_policies *p, const char *path, const char *name, const json_t *o)
{
    kh_kes_policy pol = {.name = (char *)name, .created_by = ""};
    char **ids = NULL;
    size_t n_ids = 0;
    kh_err err = KH_OK;
    if (!json_is_object(o) || !string_list(json_object_get(o, "allow"), &pol.allow, &pol.n_allow) ||
        !string_list(json_object_get(o, "deny"), &pol.deny, &pol.n_deny) ||
        !string_list(json_object_get(o, "identities"), &ids, &n_ids))
        err = file_error(path, "malformed policy", name);
    else if (kh_kes_policy_put(p, &pol) != KH_OK)
        err = file_error(path, "bad policy name or rule (rules start with '/') in", name);
    for (size_t i = 0; err == KH_OK && i < n_ids; i++) {
        char cur[KH_KES_POLICY_NAME_MAX + 1];
        if (kh_kes_identity_policy(p, ids[i], cur) == KH_OK)
            err = file_error(path, "identity has two policies:", ids[i]);
        else if (kh_kes_identity_assign(p, ids[i], name) != KH_OK)
            err =
                file_error(path, "bad identity (64 lower-case hex digits, not the admin):", ids[i]);
    }
    free_list(pol.allow, pol.n_allow);
    free_list(pol.deny, pol.n_deny);
    free_list(ids, n_ids);
    return err;
}

kh_err kh_kes_policies_load_file(kh_kes_policies *p, const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        kh_error("kes policy file %s: line %d: %s", path, jerr.line, jerr.text);
        return KH_ERR_CONFIG;
    }
    kh_err err = KH_OK;
    const json_t *admin = json_object_get(root, "admin");
    const json_t *pols = json_object_get(root, "policy");
    const char *admin_id = json_string_value(json_object_get(admin, "identity"));
    if (!json_is_object(root) || (admin && !json_is_object(admin)) ||
        (pols && !json_is_object(pols)))
        err = file_error(path, "expected {\"admin\": {...}, \"policy\": {...}}", NULL);
    else if (admin_id && kh_kes_admin_set(p, admin_id) != KH_OK)
        err = file_error(path, "bad admin identity", admin_id);
    const char *name;
    const json_t *o;
    if (err == KH_OK && pols) {
        json_object_foreach((json_t *)pols, name, o)
        {
            if ((err = load_policy(p, path, name, o)) != KH_OK)
                break;
        }
    }
    json_decref(root);
    return err;
}
