/*
 * keyring.h - realm keys: created, wrapped under the master key, cached.
 *
 * Object material is sealed with AES-256-GCM under the current key of the
 * object's realm, with "uid\0object_type(be32)" as associated data, so a
 * blob moved to another row or retyped fails to open. Realm keys are stored
 * sealed under the master key with "keyhold realm key\0realm_id(be64)
 * version(be32)" as associated data. Thread-safe.
 */
#ifndef KH_OPS_KEYRING_H
#define KH_OPS_KEYRING_H

#include "common/err.h"
#include "crypto/secbuf.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kh_keyring kh_keyring;

/* Takes ownership of master (wiped when the keyring is freed). Borrows store. */
kh_err kh_keyring_new_take(kh_store *store, kh_secbuf *master, kh_keyring **out) KH_MUST_CHECK;
void kh_keyring_free(kh_keyring **k);

/* Check the master key by opening the newest key of realm_id (a realm with
 * no key yet passes); KH_ERR_CRYPTO when the master key is wrong. */
kh_err kh_keyring_verify(kh_keyring *k, int64_t realm_id) KH_MUST_CHECK;

/* Seal material for object (uid, object_type) in realm_id under the realm's
 * newest key, creating key version 1 if the realm has none. */
kh_err kh_keyring_seal(kh_keyring *k, int64_t realm_id, const char *uid, int32_t object_type,
                       const uint8_t *pt, size_t pt_len, uint8_t **out, size_t *out_len,
                       int32_t *key_version) KH_MUST_CHECK;
/* Open material sealed by kh_keyring_seal. */
kh_err kh_keyring_open(kh_keyring *k, int64_t realm_id, int32_t key_version, const char *uid,
                       int32_t object_type, const uint8_t *ct, size_t ct_len,
                       kh_secbuf **out) KH_MUST_CHECK;

#endif
