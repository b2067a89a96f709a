/*
 * kes_policy.h - KES policies (docs/kes.md): which KES identity may call
 * which API path on the KES listener.
 *
 * As in KES: one admin identity that no policy restricts; named policies
 * of allow and deny rules, each an exact path or, ending in '*', a path
 * prefix; deny rules are checked first, then allow rules, and nothing
 * matched is denied; an identity is assigned at most one policy, and one
 * without a policy may call nothing that needs one.
 *
 * The set lives in memory, shared by every worker (a read-write lock):
 * loaded from --kes-policy-file at start; the durable, shared form is the
 * database, which ops/kes_policy_db.h writes the file to and reloads the
 * set from (kh_kes_policies_swap) when the admin API changes it.
 * Identities are principals as net/tls.c names them (64 lower-case hex
 * characters).
 */
#ifndef KH_OPS_KES_POLICY_H
#define KH_OPS_KES_POLICY_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KH_KES_POLICY_NAME_MAX 80
#define KH_KES_RULE_MAX 512 /* bytes of one allow/deny rule */

typedef struct kh_kes_policies kh_kes_policies;

/* One policy (a copy: kh_kes_policy_clear frees its strings). */
typedef struct kh_kes_policy {
    char *name;
    char **allow;
    size_t n_allow;
    char **deny;
    size_t n_deny;
    int64_t created_at; /* unix seconds */
    char *created_by;   /* identity, "" when from the file */
} kh_kes_policy;
void kh_kes_policy_clear(kh_kes_policy *p);

/* An empty set (no admin, no policy). */
kh_kes_policies *kh_kes_policies_new(void);
void kh_kes_policies_free(kh_kes_policies **p);

/* Read a policy file: {"admin": {"identity": ID}, "policy": {NAME:
 * {"allow": [...], "deny": [...], "identities": [...]}}} (KES's YAML
 * config, as JSON). KH_ERR_CONFIG, logged with the reason, when it does
 * not read or parse, names an identity twice, or a rule is malformed. */
kh_err kh_kes_policies_load_file(kh_kes_policies *p, const char *path) KH_MUST_CHECK;

/* Exchange the policies and assignments of a and b (not their admin
 * identities), each under its own lock: a reload builds a fresh set and
 * swaps it in, so readers see either the old set or the new one. */
void kh_kes_policies_swap(kh_kes_policies *a, kh_kes_policies *b);

/* The admin identity ("", NULL or, as KES writes it, "disabled": none). The admin may not also hold
 * a policy: KH_ERR_INVALID_ARG. */
kh_err kh_kes_admin_set(kh_kes_policies *p, const char *identity) KH_MUST_CHECK;
bool kh_kes_is_admin(const kh_kes_policies *p, const char *identity);

/* Create or replace policy src->name (identities assigned to it keep it).
 * KH_ERR_INVALID_ARG for a bad name or rule. */
kh_err kh_kes_policy_put(kh_kes_policies *p, const kh_kes_policy *src) KH_MUST_CHECK;
/* A copy of policy name; KH_ERR_NOT_FOUND. */
kh_err kh_kes_policy_get(const kh_kes_policies *p, const char *name,
                         kh_kes_policy *out) KH_MUST_CHECK;
/* Delete it and unassign its identities; KH_ERR_NOT_FOUND. */
kh_err kh_kes_policy_delete(kh_kes_policies *p, const char *name) KH_MUST_CHECK;
/* Sorted names matching pattern (kh_kes_pattern_match rules); the caller
 * frees each string and the array. */
kh_err kh_kes_policy_list(const kh_kes_policies *p, const char *pattern, char ***names,
                          size_t *n) KH_MUST_CHECK;

/* Assign identity to policy (replacing its previous one): KH_ERR_NOT_FOUND
 * without such a policy, KH_ERR_INVALID_ARG for the admin or a malformed
 * identity. */
kh_err kh_kes_identity_assign(kh_kes_policies *p, const char *identity,
                              const char *policy) KH_MUST_CHECK;
/* Unassign; KH_ERR_NOT_FOUND when it had no policy. */
kh_err kh_kes_identity_remove(kh_kes_policies *p, const char *identity) KH_MUST_CHECK;
/* The policy name assigned to identity into out; KH_ERR_NOT_FOUND. */
kh_err kh_kes_identity_policy(const kh_kes_policies *p, const char *identity,
                              char out[KH_KES_POLICY_NAME_MAX + 1]) KH_MUST_CHECK;
/* Sorted identities that hold a policy (and the admin) matching pattern. */
kh_err kh_kes_identity_list(const kh_kes_policies *p, const char *pattern, char ***ids,
                            size_t *n) KH_MUST_CHECK;

/* A well-formed identity (64 lower-case hex digits), and a policy whose
 * name is a KES name and whose rules start with '/' and hold only
 * printable ASCII without spaces (at most KH_KES_RULE_MAX bytes each):
 * what kh_kes_identity_assign and kh_kes_policy_put accept. */
bool kh_kes_identity_valid(const char *identity);
bool kh_kes_policy_valid(const kh_kes_policy *p);

/* May identity call path? KH_OK for the admin and when identity's policy
 * allows it (deny rules first); KH_ERR_PERMISSION otherwise. */
kh_err kh_kes_policy_check(const kh_kes_policies *p, const char *identity,
                           const char *path) KH_MUST_CHECK;
/* rule matches path: equal, or rule ends in '*' and path starts with the
 * rest. */
bool kh_kes_rule_match(const char *rule, const char *path);

#endif
