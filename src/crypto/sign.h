/*
 * sign.h - digital signatures: RSA-PSS, RSA PKCS#1 v1.5, ECDSA (DER
 * signatures, as X.509 and Python's cryptography use) and Ed25519.
 *
 * The message is hashed here, or the caller passes its digest
 * (prehashed); Ed25519 signs messages only. A signature that does not
 * verify is *valid = false with KH_OK: it is an answer, not a failure.
 */
#ifndef KH_CRYPTO_SIGN_H
#define KH_CRYPTO_SIGN_H

#include "common/err.h"
#include "crypto/hash.h"
#include "crypto/pkey.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kh_sig_scheme {
    KH_SIG_RSA_PSS = 1,   /* MGF1 with the message hash */
    KH_SIG_RSA_PKCS1 = 2, /* RSASSA-PKCS1-v1_5 */
    KH_SIG_ECDSA = 3,
    KH_SIG_ED25519 = 4,
} kh_sig_scheme;

typedef struct kh_sign_params {
    kh_sig_scheme scheme;
    kh_hash hash;   /* KH_HASH_NONE for Ed25519 */
    int salt_len;   /* PSS: -1 = digest length to sign, any to verify */
    bool prehashed; /* msg is already the digest under hash */
} kh_sign_params;

/* Sign msg with k's private half; *sig is malloc'd (caller frees). */
kh_err kh_sign(uint8_t **sig, size_t *sig_len, const kh_pkey *k, const kh_sign_params *p,
               const uint8_t *msg, size_t len) KH_MUST_CHECK;
kh_err kh_verify(bool *valid, const kh_pkey *k, const kh_sign_params *p, const uint8_t *msg,
                 size_t len, const uint8_t *sig, size_t sig_len) KH_MUST_CHECK;

#endif
