/*
 * cipher.h - encryption for clients' data: AES-GCM, AES-CBC, AES-CTR,
 * ChaCha20-Poly1305, and RSA-OAEP / PKCS#1 v1.5.
 *
 * Not for keyhold's own data at rest (that is aead.h). When the caller
 * gives no IV one is drawn here from the DRBG and returned; a failed
 * decryption (tag, padding, wrong key) is KH_ERR_CRYPTO and nothing more.
 */
#ifndef KH_CRYPTO_CIPHER_H
#define KH_CRYPTO_CIPHER_H

#include "common/err.h"
#include "crypto/hash.h"
#include "crypto/pkey.h"
#include "crypto/secbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kh_cipher {
    KH_CIPHER_AES_GCM = 1,
    KH_CIPHER_AES_CBC = 2,
    KH_CIPHER_AES_CTR = 3,
    KH_CIPHER_CHACHA20_POLY1305 = 4,
} kh_cipher;

#define KH_CIPHER_MAX_IV 64
#define KH_CIPHER_MAX_TAG 16

typedef struct kh_cipher_params {
    kh_cipher cipher;
    bool pad;           /* CBC: PKCS#5 padding (else input must be whole blocks) */
    const uint8_t *iv;  /* NULL on encryption: generated */
    size_t iv_len;      /* given IV's length, or the one to generate (0 = usual) */
    const uint8_t *aad; /* AEAD only */
    size_t aad_len;
    size_t tag_len; /* AEAD: 0 = 16; GCM accepts 12..16 */
} kh_cipher_params;

typedef struct kh_cipher_out {
    uint8_t *data; /* ciphertext, malloc'd: kh_cipher_out_clear frees it */
    size_t len;
    uint8_t iv[KH_CIPHER_MAX_IV]; /* the IV used (given or generated) */
    size_t iv_len;
    uint8_t tag[KH_CIPHER_MAX_TAG]; /* AEAD tag, tag_len bytes */
    size_t tag_len;
} kh_cipher_out;

/* Encrypt pt with key (16/24/32 bytes for AES, 32 for ChaCha20). */
kh_err kh_cipher_encrypt(kh_cipher_out *out, const kh_secbuf *key, const kh_cipher_params *p,
                         const uint8_t *pt, size_t pt_len) KH_MUST_CHECK;
/* Decrypt ct (p->iv required); tag is the AEAD tag (ignored otherwise).
 * *pt is malloc'd and the caller wipes it with kh_wipe_free: it is data,
 * not a key, and a 1 MiB message would exhaust the secure heap. */
kh_err kh_cipher_decrypt(uint8_t **pt, size_t *pt_len, const kh_secbuf *key,
                         const kh_cipher_params *p, const uint8_t *ct, size_t ct_len,
                         const uint8_t *tag, size_t tag_len) KH_MUST_CHECK;
void kh_cipher_out_clear(kh_cipher_out *o);

typedef enum kh_rsa_pad {
    KH_RSA_OAEP = 1,  /* MGF1 with the same hash as the label hash */
    KH_RSA_PKCS1 = 2, /* PKCS#1 v1.5: decryption only, for old clients */
} kh_rsa_pad;

/* RSA encryption with k's public half (OAEP only); *ct is malloc'd. */
kh_err kh_rsa_encrypt(uint8_t **ct, size_t *ct_len, const kh_pkey *k, kh_rsa_pad pad, kh_hash hash,
                      const uint8_t *pt, size_t pt_len) KH_MUST_CHECK;
/* RSA decryption with k's private half; *pt as for kh_cipher_decrypt. */
kh_err kh_rsa_decrypt(uint8_t **pt, size_t *pt_len, const kh_pkey *k, kh_rsa_pad pad, kh_hash hash,
                      const uint8_t *ct, size_t ct_len) KH_MUST_CHECK;

#endif
