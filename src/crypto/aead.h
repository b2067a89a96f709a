/*
 * aead.h - sealing blobs at rest with AES-256-GCM.
 *
 * The nonce is chosen here, never by the caller. Sealed format:
 *   version (1 byte, 0x01) || nonce (12) || ciphertext || tag (16)
 * A failed open says KH_ERR_CRYPTO and nothing more.
 */
#ifndef KH_CRYPTO_AEAD_H
#define KH_CRYPTO_AEAD_H

#include "common/err.h"
#include "crypto/secbuf.h"

#include <stddef.h>
#include <stdint.h>

#define KH_AEAD_KEY_LEN 32
#define KH_AEAD_OVERHEAD (1 + 12 + 16)

/* Seal pt under key (32 bytes) with aad; *out is malloc'd (caller frees). */
kh_err kh_aead_seal(const kh_secbuf *key, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                    size_t pt_len, uint8_t **out, size_t *out_len) KH_MUST_CHECK;

/* Open a sealed blob; the plaintext goes into a new secbuf (caller frees). */
kh_err kh_aead_open(const kh_secbuf *key, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                    size_t ct_len, kh_secbuf **out) KH_MUST_CHECK;

#endif
