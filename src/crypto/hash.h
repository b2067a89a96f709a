/*
 * hash.h - message digests by name: SHA-1, SHA-2 and SHA-3.
 *
 * kh_hash is keyhold's own list; proto/ and ops/ map KMIP's
 * HashingAlgorithm onto it, and the other crypto/ APIs take it as their
 * hash parameter so that no caller ever sees an EVP_MD.
 */
#ifndef KH_CRYPTO_HASH_H
#define KH_CRYPTO_HASH_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef enum kh_hash {
    KH_HASH_NONE = 0,
    KH_HASH_SHA1 = 1,
    KH_HASH_SHA224 = 2,
    KH_HASH_SHA256 = 3,
    KH_HASH_SHA384 = 4,
    KH_HASH_SHA512 = 5,
    KH_HASH_SHA3_224 = 6,
    KH_HASH_SHA3_256 = 7,
    KH_HASH_SHA3_384 = 8,
    KH_HASH_SHA3_512 = 9,
} kh_hash;

#define KH_HASH_MAX_LEN 64

/* Digest length of h in bytes, 0 for KH_HASH_NONE or an unknown value. */
size_t kh_hash_len(kh_hash h);

/* out gets the digest of p[0..len), *out_len its length. */
kh_err kh_hash_digest(uint8_t out[KH_HASH_MAX_LEN], size_t *out_len, kh_hash h, const uint8_t *p,
                      size_t len) KH_MUST_CHECK;

#endif
