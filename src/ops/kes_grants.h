/*
 * kes_grants.h - KES policies seen from KMIP: the keys of the KES
 * namespace (owner KH_KES_OWNER) carry grants (ops/authz.h) that mirror
 * what each identity's policy allows on them, so that the same identity
 * finds and uses a KES key over KMIP exactly as far as its policy lets it
 * over KES (docs/kes.md, "One key, two protocols").
 *
 *   /v1/key/describe/NAME           -> Locate, GetAttributes
 *   /v1/key/generate|encrypt/NAME   -> Locate, Encrypt
 *   /v1/key/decrypt/NAME            -> Locate, Decrypt
 *   /v1/key/hmac/NAME               -> Locate, MAC
 *   /v1/key/delete/NAME             -> Locate, Revoke, Destroy
 *
 * Nothing maps to Get or Export: as KES, keyhold hands out no KES key's
 * material, whatever the policy. The grants are kept in step when a key
 * is created on the KES listener and for every key at start-up; whoever
 * changes policies at run time (the admin API) calls
 * kh_kes_grants_sync_all afterwards. Grants on KES keys made by other
 * means are overwritten by the next sync.
 */
#ifndef KH_OPS_KES_GRANTS_H
#define KH_OPS_KES_GRANTS_H

#include "common/err.h"
#include "ops/kes_policy.h"
#include "ops/ops.h"

#include <stdint.h>

/* The KMIP permissions (KH_PERM_*) identity's policy gives it on the KES
 * key name (0: none). */
uint32_t kh_kes_policy_perms(const kh_kes_policies *p, const char *identity, const char *name);

/* Make the grants on the KES key uid (called name) those of the policies. */
kh_err kh_kes_grants_sync_key(kh_service *svc, const kh_kes_policies *p, const char *uid,
                              const char *name) KH_MUST_CHECK;
/* The same for every live key of the KES namespace. */
kh_err kh_kes_grants_sync_all(kh_service *svc, const kh_kes_policies *p) KH_MUST_CHECK;

#endif
