/*
 * pkey.h - asymmetric keys: generation, DER import and export.
 *
 * A kh_pkey is opaque: callers hold one only to hand it back to
 * cipher.h (RSA encryption) or sign.h. Formats follow what KMIP clients
 * exchange: PKCS#1 RSAPrivateKey / RSAPublicKey for RSA (as PyKMIP
 * registers and expects), PKCS#8 PrivateKeyInfo and X.509
 * SubjectPublicKeyInfo for any type, and the raw 32 bytes of Ed25519 keys.
 * Private DER always comes out in a kh_secbuf.
 */
#ifndef KH_CRYPTO_PKEY_H
#define KH_CRYPTO_PKEY_H

#include "common/err.h"
#include "crypto/secbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kh_pkey kh_pkey;

typedef enum kh_pkey_type {
    KH_PKEY_RSA = 1,
    KH_PKEY_EC_P256 = 2,
    KH_PKEY_EC_P384 = 3,
    KH_PKEY_EC_P521 = 4,
    KH_PKEY_ED25519 = 5,
} kh_pkey_type;

typedef enum kh_pkey_format {
    KH_PKEY_PKCS1 = 1, /* RSA only: RSAPrivateKey / RSAPublicKey */
    KH_PKEY_PKCS8 = 2, /* private: PrivateKeyInfo (also reads SEC1 EC keys) */
    KH_PKEY_SPKI = 3,  /* public: X.509 SubjectPublicKeyInfo */
    KH_PKEY_RAW = 4,   /* Ed25519 only: the 32-byte key */
} kh_pkey_format;

/* A fresh key pair; bits is read for RSA only (2048, 3072 or 4096).
 * Caller frees with kh_pkey_free. */
kh_err kh_pkey_generate(kh_pkey **out, kh_pkey_type type, unsigned bits) KH_MUST_CHECK;

/* Read a private (is_private) or public key in fmt. Malformed input is
 * KH_ERR_CRYPTO; a key type we do not use is KH_ERR_UNSUPPORTED. */
kh_err kh_pkey_import(kh_pkey **out, bool is_private, kh_pkey_format fmt, const uint8_t *der,
                      size_t len) KH_MUST_CHECK;

/* The private key in fmt (PKCS1 for RSA, PKCS8, RAW for Ed25519). */
kh_err kh_pkey_export_private(kh_secbuf **der, const kh_pkey *k, kh_pkey_format fmt) KH_MUST_CHECK;
/* The public key in fmt (PKCS1 for RSA, SPKI, RAW for Ed25519); *der is
 * malloc'd, caller frees. */
kh_err kh_pkey_export_public(uint8_t **der, size_t *len, const kh_pkey *k,
                             kh_pkey_format fmt) KH_MUST_CHECK;

/* The numbers KMIP's Transparent key formats carry. */
typedef enum kh_pkey_part {
    KH_PKEY_RSA_N = 1, /* modulus */
    KH_PKEY_RSA_E,     /* public exponent */
    KH_PKEY_RSA_D,     /* private exponent */
    KH_PKEY_RSA_P,
    KH_PKEY_RSA_Q,
    KH_PKEY_RSA_DP,   /* d mod (p - 1) */
    KH_PKEY_RSA_DQ,   /* d mod (q - 1) */
    KH_PKEY_RSA_QINV, /* q^-1 mod p */
    KH_PKEY_EC_D,     /* the private scalar */
    KH_PKEY_EC_Q,     /* the public point, uncompressed (0x04 || X || Y) */
} kh_pkey_part;

/* One part of k: an unsigned big-endian magnitude (the point octets for
 * KH_PKEY_EC_Q), in a kh_secbuf since most parts of a private key are
 * secret. KH_ERR_INVALID_ARG when k has no such part (wrong type, or a
 * private part of a public key). */
kh_err kh_pkey_part_get(kh_secbuf **out, const kh_pkey *k, kh_pkey_part part) KH_MUST_CHECK;

/* A key from its parts (KMIP's Transparent forms), each an unsigned
 * big-endian magnitude (v[part] NULL when absent): type KH_PKEY_RSA with
 * N and E, and for a private key D, P, Q, DP, DQ and QINV too; or an EC
 * curve type with EC_D (private; the public point is computed) or EC_Q
 * (public, uncompressed or compressed point). The key is checked (RSA
 * factors against the modulus, an EC point on its curve): KH_ERR_CRYPTO
 * when it does not hold together, KH_ERR_INVALID_ARG when a part it needs
 * is missing. Caller frees *out. */
typedef struct kh_pkey_parts {
    kh_pkey_type type;
    const uint8_t *v[KH_PKEY_EC_Q + 1];
    size_t len[KH_PKEY_EC_Q + 1];
} kh_pkey_parts;
kh_err kh_pkey_from_parts(kh_pkey **out, bool is_private, const kh_pkey_parts *p) KH_MUST_CHECK;

kh_pkey_type kh_pkey_type_of(const kh_pkey *k);
/* Modulus bits for RSA, field bits for EC (256, 384, 521), 256 for Ed25519. */
unsigned kh_pkey_bits(const kh_pkey *k);
bool kh_pkey_has_private(const kh_pkey *k);

/* Frees (OpenSSL cleanses the key's memory); sets *k to NULL; accepts NULL. */
void kh_pkey_free(kh_pkey **k);

#endif
