/*
 * crypto_ops.h - operations that use keys without letting them out:
 * CreateKeyPair, Encrypt, Decrypt, Sign, SignatureVerify, MAC, MACVerify,
 * and the keyless RNGRetrieve and Hash.
 *
 * Like ops.h these are transport-agnostic. Cryptographic parameters travel
 * as a canonical CryptographicParameters structure (or NULL); what the
 * request leaves out comes from the key's Cryptographic Parameters
 * attribute, then from defaults: AES -> GCM, RSA -> OAEP-SHA256 and
 * PSS-SHA256, EC -> ECDSA-SHA256.
 *
 * The key is loaded with kh_object_load (so another principal's key is
 * KH_ERR_NOT_FOUND); Encrypt, Sign and MAC need it Active, Decrypt,
 * SignatureVerify and MACVerify accept Active, Deactivated and Compromised
 * (KMIP lets a retired key still process protected data). Its
 * Cryptographic Usage Mask must allow the operation (else
 * KH_ERR_PERMISSION). A failed decryption is KH_ERR_CRYPTO and nothing more.
 */
#ifndef KH_OPS_CRYPTO_OPS_H
#define KH_OPS_CRYPTO_OPS_H

#include "common/err.h"
#include "ops/ops.h"
#include "proto/ttlv.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest RNGRetrieve answer. */
#define KH_RNG_MAX 65536

/* CreateKeyPair: algorithm and length come from common (or the per-key
 * sets): RSA 2048/3072/4096, EC (or ECDSA) 256/384/521, Ed25519. The
 * private key gets common + priv, the public key common + pub; each links
 * to the other. Caller frees both uids. */
kh_err kh_op_create_key_pair(kh_ctx *ctx, const kh_ttlv *common, const kh_ttlv *priv,
                             const kh_ttlv *pub, char **priv_uid, char **pub_uid) KH_MUST_CHECK;

/* One data operation's input; everything is borrowed. */
typedef struct kh_crypto_req {
    const char *uid;
    /* uid's object as the caller already loaded it for this request (its
     * row read from the store then), or NULL: loaded here. Access, state
     * and usage are checked on it the same way. */
    const struct kh_object *key;
    const kh_ttlv *params; /* CryptographicParameters, or NULL */
    const uint8_t *data;   /* Data (or the digest when digested) */
    size_t data_len;
    bool digested;     /* Sign/Verify: data is DigestedData */
    const uint8_t *iv; /* IVCounterNonce, or NULL (Encrypt: generated) */
    size_t iv_len;
    const uint8_t *aad; /* AEAD additional data, or NULL */
    size_t aad_len;
    const uint8_t *tag; /* Decrypt: AEAD tag; Verify: signature; MACVerify: MAC */
    size_t tag_len;
    bool tag_in_data; /* no tag field in this protocol: the AEAD tag follows the
                       * ciphertext in data (KMIP before 1.4) */
} kh_crypto_req;

/* One data operation's output; kh_crypto_result_clear wipes and frees. */
typedef struct kh_crypto_result {
    uint8_t *data; /* ciphertext, plaintext, signature, MAC, digest, random bytes */
    size_t len;
    uint8_t *iv; /* Encrypt: the IV, when the server chose it */
    size_t iv_len;
    uint8_t *tag; /* Encrypt: the AEAD tag, unless tag_in_data */
    size_t tag_len;
    bool valid; /* SignatureVerify, MACVerify */
} kh_crypto_result;

void kh_crypto_result_clear(kh_crypto_result *r);

kh_err kh_op_encrypt(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out) KH_MUST_CHECK;
kh_err kh_op_decrypt(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out) KH_MUST_CHECK;
kh_err kh_op_sign(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out) KH_MUST_CHECK;
/* out->valid says whether req->tag is a good signature of req->data. */
kh_err kh_op_verify(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out) KH_MUST_CHECK;
kh_err kh_op_mac(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out) KH_MUST_CHECK;
kh_err kh_op_mac_verify(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out) KH_MUST_CHECK;

/* len random bytes, 1..KH_RNG_MAX. */
kh_err kh_op_rng(kh_ctx *ctx, int64_t len, kh_crypto_result *out) KH_MUST_CHECK;
/* The digest of data under params' HashingAlgorithm (required). */
kh_err kh_op_hash(kh_ctx *ctx, const kh_ttlv *params, const uint8_t *data, size_t len,
                  kh_crypto_result *out) KH_MUST_CHECK;

#endif
