/*
 * kdf.h - key derivation over OpenSSL's EVP_KDF: PBKDF2, HKDF (RFC 5869)
 * and the NIST SP 800-108 counter-mode KDF with HMAC.
 *
 * The output buffer comes first and is filled completely: its length is
 * the length derived. Inputs that are secrets are kh_secbufs.
 */
#ifndef KH_CRYPTO_KDF_H
#define KH_CRYPTO_KDF_H

#include "common/err.h"
#include "crypto/hash.h"
#include "crypto/secbuf.h"

#include <stddef.h>
#include <stdint.h>

/* Largest derivation we do, in bytes, and most PBKDF2 iterations. */
#define KH_KDF_MAX_OUT 1024
#define KH_KDF_MAX_ITER 10000000

/* PBKDF2-HMAC-hash of password with salt (salt may be empty). */
kh_err kh_pbkdf2(kh_secbuf *out, kh_hash hash, const kh_secbuf *password, const uint8_t *salt,
                 size_t salt_len, uint32_t iterations) KH_MUST_CHECK;

/* HKDF extract-and-expand; salt and info may be empty. */
kh_err kh_hkdf(kh_secbuf *out, kh_hash hash, const kh_secbuf *key, const uint8_t *salt,
               size_t salt_len, const uint8_t *info, size_t info_len) KH_MUST_CHECK;

/* SP 800-108 counter mode, HMAC-hash PRF, 32-bit counter before the fixed
 * input data, no separator and no length field: PRF(K, i || fixed). */
kh_err kh_kbkdf_counter(kh_secbuf *out, kh_hash hash, const kh_secbuf *key, const uint8_t *fixed,
                        size_t fixed_len) KH_MUST_CHECK;

#endif
