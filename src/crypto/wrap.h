/*
 * wrap.h - key wrapping: AES key wrap (RFC 3394) and AES key wrap with
 * padding (RFC 5649) under a key-encryption key, and RSA-OAEP + AES-KWP
 * (PKCS#11 CKM_RSA_AES_KEY_WRAP) for material too large for RSA-OAEP
 * alone. Plain RSA-OAEP is kh_rsa_encrypt in cipher.h.
 *
 * Wrapped output is not secret and comes back malloc'd; unwrapped material
 * always comes back in a kh_secbuf. A failed unwrap (integrity check, wrong
 * key) is KH_ERR_CRYPTO and nothing more.
 */
#ifndef KH_CRYPTO_WRAP_H
#define KH_CRYPTO_WRAP_H

#include "common/err.h"
#include "crypto/hash.h"
#include "crypto/pkey.h"
#include "crypto/secbuf.h"

#include <stddef.h>
#include <stdint.h>

typedef enum kh_kw_mode {
    KH_KW_RFC3394 = 1, /* input a multiple of 8 bytes, at least 16 */
    KH_KW_RFC5649 = 2, /* any input of 1 byte or more */
} kh_kw_mode;

/* Largest input we wrap: keys, not bulk data. */
#define KH_WRAP_MAX_INPUT 65536

/* Wrap pt under kek (16, 24 or 32 bytes); *out is malloc'd (caller frees). */
kh_err kh_key_wrap(uint8_t **out, size_t *out_len, kh_kw_mode mode, const kh_secbuf *kek,
                   const uint8_t *pt, size_t pt_len) KH_MUST_CHECK;
/* Unwrap ct under kek; *out is a new secbuf (caller frees). */
kh_err kh_key_unwrap(kh_secbuf **out, kh_kw_mode mode, const kh_secbuf *kek, const uint8_t *ct,
                     size_t ct_len) KH_MUST_CHECK;

/* RSA-OAEP (hash for both the label and MGF1) of a fresh AES-256 key, then
 * RFC 5649 wrap of pt under that key: out = OAEP(k) || KWP(k, pt). The
 * ephemeral key is wiped before returning. */
kh_err kh_rsa_aes_wrap(uint8_t **out, size_t *out_len, const kh_pkey *k, kh_hash hash,
                       const uint8_t *pt, size_t pt_len) KH_MUST_CHECK;
kh_err kh_rsa_aes_unwrap(kh_secbuf **out, const kh_pkey *k, kh_hash hash, const uint8_t *ct,
                         size_t ct_len) KH_MUST_CHECK;

#endif
