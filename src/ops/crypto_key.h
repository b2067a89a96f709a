/*
 * crypto_key.h - what the cryptographic operations share: loading a key
 * for one use (ownership, state, usage mask, material) and reading
 * CryptographicParameters with their fallbacks.
 *
 * Internal to ops/: the operations themselves are in crypto_ops.h.
 */
#ifndef KH_OPS_CRYPTO_KEY_H
#define KH_OPS_CRYPTO_KEY_H

#include "common/err.h"
#include "crypto/hash.h"
#include "crypto/pkey.h"
#include "crypto/secbuf.h"
#include "ops/object.h"
#include "ops/ops.h"

#include <stdbool.h>
#include <stdint.h>

/* A key loaded for one operation. */
typedef struct kh_use_key {
    kh_object *obj;
    uint32_t type;     /* KMIP ObjectType */
    uint32_t alg;      /* KMIP CryptographicAlgorithm of the object */
    kh_secbuf *secret; /* symmetric key bytes, or NULL */
    kh_pkey *pkey;     /* asymmetric key, or NULL */
    bool borrowed;     /* obj is the caller's (kh_use_key_from) */
} kh_use_key;

/* How the operation treats the key's state. */
typedef enum kh_key_use {
    KH_USE_PROTECT = 1, /* Encrypt, Sign, MAC: Active only */
    KH_USE_PROCESS = 2, /* Decrypt, Verify, MACVerify: also Deactivated, Compromised */
} kh_key_use;

/* Load uid for an operation that needs usage_bit in the usage mask. */
kh_err kh_use_key_load(kh_ctx *ctx, const char *uid, kh_key_use use, uint32_t usage_bit,
                       kh_use_key *out) KH_MUST_CHECK;
/* The same on o, already loaded by the caller for this request (borrowed:
 * kh_use_key_clear leaves it), checked for ctx->perm as kh_object_load
 * would have. */
kh_err kh_use_key_from(kh_ctx *ctx, const kh_object *o, kh_key_use use, uint32_t usage_bit,
                       kh_use_key *out) KH_MUST_CHECK;
void kh_use_key_clear(kh_use_key *k);

/* The public key held by a PublicKey managed object m (PKCS#1, X.509 or
 * raw Ed25519, not wrapped), whatever its state or usage mask; caller
 * frees *out. KH_ERR_KEY_FORMAT / KH_ERR_UNSUPPORTED when unreadable. */
kh_err kh_public_key_of(const kh_ttlv *m, kh_pkey **out) KH_MUST_CHECK;

/* CryptographicParameters as plain values; 0 / -1 mean "not given". */
typedef struct kh_cparams {
    uint32_t mode;     /* BlockCipherMode */
    uint32_t padding;  /* PaddingMethod */
    uint32_t hashing;  /* HashingAlgorithm */
    uint32_t dsa;      /* DigitalSignatureAlgorithm */
    uint32_t alg;      /* CryptographicAlgorithm */
    uint32_t mgf_hash; /* MaskGeneratorHashingAlgorithm */
    int32_t tag_len;   /* TagLength, bytes */
    int32_t iv_len;    /* IVLength, bits */
    int32_t salt_len;  /* SaltLength, bytes */
    int random_iv;     /* RandomIV: -1, 0 or 1 */
} kh_cparams;

/* req's fields over those of the key's Cryptographic Parameters attribute
 * (key may be NULL); absent everywhere stays "not given". */
kh_err kh_cparams_resolve(const kh_ttlv *req, const kh_object *key, kh_cparams *out) KH_MUST_CHECK;

/* KMIP HashingAlgorithm -> kh_hash; KH_HASH_NONE when we do not do it. */
kh_hash kh_hash_of_kmip(uint32_t hashing);

#endif
