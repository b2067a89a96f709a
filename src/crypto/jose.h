/*
 * jose.h - the OpenSSL side of JSON Web Tokens: public keys built from a
 * JWK's raw components, and JWS ECDSA signatures (raw r || s, RFC 7518
 * section 3.4) turned into the DER form sign.h verifies.
 *
 * Parsing JSON, base64url and claims is proto/jwt.c's business; this file
 * only turns checked bytes into OpenSSL objects. Only public keys: keyhold
 * verifies tokens, it never issues them.
 */
#ifndef KH_CRYPTO_JOSE_H
#define KH_CRYPTO_JOSE_H

#include "common/err.h"
#include "crypto/pkey.h"

#include <stddef.h>
#include <stdint.h>

#define KH_JOSE_RSA_MIN_BITS 2048
#define KH_JOSE_RSA_MAX_BITS 8192

/* An RSA public key from its big-endian modulus n and exponent e (a JWK's
 * "n" and "e" after base64url). Moduli outside [KH_JOSE_RSA_MIN_BITS,
 * KH_JOSE_RSA_MAX_BITS], an even or tiny exponent are KH_ERR_UNSUPPORTED;
 * caller frees *out with kh_pkey_free. */
kh_err kh_jose_rsa_public(kh_pkey **out, const uint8_t *n, size_t n_len, const uint8_t *e,
                          size_t e_len) KH_MUST_CHECK;

/* A P-256 public key from its 32-byte affine coordinates x and y (a JWK's
 * "x" and "y"). A point not on the curve is KH_ERR_CRYPTO; caller frees
 * *out with kh_pkey_free. */
kh_err kh_jose_p256_public(kh_pkey **out, const uint8_t *x, size_t x_len, const uint8_t *y,
                           size_t y_len) KH_MUST_CHECK;

/* The DER ECDSA-Sig-Value of a raw JWS signature r || s (both halves
 * half_len bytes: 32 for ES256). *der is malloc'd, caller frees. */
kh_err kh_jose_ecdsa_raw_to_der(uint8_t **der, size_t *der_len, const uint8_t *raw, size_t len,
                                size_t half_len) KH_MUST_CHECK;

#endif
