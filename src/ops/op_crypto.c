/*
 * op_crypto.c - Encrypt, Decrypt, MAC, MACVerify, RNGRetrieve and Hash.
 *
 * Parameters are settled here (request, then the key's stored
 * CryptographicParameters, then defaults) and handed to crypto/ as plain
 * values; nothing here touches OpenSSL. Signatures are in op_sign.c.
 */
#include "ops/crypto_key.h"
#include "ops/crypto_ops.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/cipher.h"
#include "crypto/mac.h"
#include "crypto/rand.h"
#include "proto/kmip_consts.h"

#include <string.h>

void kh_crypto_result_clear(kh_crypto_result *r)
{
    if (!r)
        return;
    kh_wipe_free(r->data, r->len);
    free(r->iv);
    free(r->tag);
    memset(r, 0, sizeof(*r));
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = kh_xmalloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* ---- symmetric ciphers ------------------------------------------------ */

static kh_err aes_mode(const kh_cparams *cp, kh_cipher_params *p)
{
    if (cp->alg && cp->alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES)
        return KH_ERR_INVALID_FIELD;
    switch (cp->mode ? cp->mode : KH_BLOCK_CIPHER_MODE_GCM) {
    case KH_BLOCK_CIPHER_MODE_GCM:
        p->cipher = KH_CIPHER_AES_GCM;
        break;
    case KH_BLOCK_CIPHER_MODE_CBC:
        p->cipher = KH_CIPHER_AES_CBC;
        if (cp->padding && cp->padding != KH_PADDING_METHOD_PKCS5 &&
            cp->padding != KH_PADDING_METHOD_NONE)
            return KH_ERR_UNSUPPORTED;
        p->pad = cp->padding != KH_PADDING_METHOD_NONE; /* PKCS#5 unless told otherwise */
        return KH_OK;
    case KH_BLOCK_CIPHER_MODE_CTR:
        p->cipher = KH_CIPHER_AES_CTR;
        break;
    default:
        return KH_ERR_UNSUPPORTED; /* ECB leaks patterns; the rest we lack */
    }
    return (cp->padding && cp->padding != KH_PADDING_METHOD_NONE) ? KH_ERR_INVALID_FIELD : KH_OK;
}

static kh_err cipher_of(const kh_use_key *k, const kh_cparams *cp, kh_cipher_params *p)
{
    memset(p, 0, sizeof(*p));
    if (k->alg == KH_CRYPTOGRAPHIC_ALGORITHM_AES) {
        kh_err err = aes_mode(cp, p);
        if (err != KH_OK)
            return err;
    } else if (k->alg == KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20_POLY1305 ||
               k->alg == KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20) {
        if (cp->alg && cp->alg != KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20_POLY1305)
            return cp->alg == KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20 ? KH_ERR_UNSUPPORTED
                                                                  : KH_ERR_INVALID_FIELD;
        if (cp->mode && cp->mode != KH_BLOCK_CIPHER_MODE_AEAD)
            return KH_ERR_INVALID_FIELD;
        p->cipher = KH_CIPHER_CHACHA20_POLY1305;
    } else {
        return KH_ERR_INVALID_FIELD; /* an HMAC key, say: not for encryption */
    }
    if (cp->iv_len >= 0 && (cp->iv_len % 8 || cp->iv_len == 0))
        return KH_ERR_INVALID_FIELD;
    p->iv_len = cp->iv_len > 0 ? (size_t)cp->iv_len / 8 : 0;
    p->tag_len = cp->tag_len > 0 ? (size_t)cp->tag_len : 0;
    return KH_OK;
}

static bool aead(const kh_cipher_params *p)
{
    return p->cipher == KH_CIPHER_AES_GCM || p->cipher == KH_CIPHER_CHACHA20_POLY1305;
}

static kh_err sym_encrypt(const kh_use_key *k, const kh_cparams *cp, const kh_crypto_req *req,
                          kh_crypto_result *out)
{
    kh_cipher_params p;
    kh_cipher_out co;
    kh_err err = cipher_of(k, cp, &p);
    if (err != KH_OK)
        return err;
    if (req->iv) {
        if (cp->random_iv == 1 || (p.iv_len && p.iv_len != req->iv_len))
            return KH_ERR_INVALID_FIELD;
        p.iv = req->iv;
        p.iv_len = req->iv_len;
    } else if (cp->random_iv == 0) {
        return KH_ERR_MISSING_DATA; /* the client said it would bring one */
    }
    p.aad = req->aad;
    p.aad_len = req->aad_len;
    if ((err = kh_cipher_encrypt(&co, k->secret, &p, req->data, req->data_len)) != KH_OK)
        return err;
    bool append = aead(&p) && req->tag_in_data;
    out->len = co.len + (append ? co.tag_len : 0);
    out->data = kh_xmalloc(out->len ? out->len : 1);
    if (co.len)
        memcpy(out->data, co.data, co.len);
    if (append)
        memcpy(out->data + co.len, co.tag, co.tag_len);
    else if (co.tag_len) {
        out->tag = dup_bytes(co.tag, co.tag_len);
        out->tag_len = co.tag_len;
    }
    if (!req->iv) { /* only an IV the server chose is news to the client */
        out->iv = dup_bytes(co.iv, co.iv_len);
        out->iv_len = co.iv_len;
    }
    kh_cipher_out_clear(&co);
    return KH_OK;
}

static kh_err sym_decrypt(const kh_use_key *k, const kh_cparams *cp, const kh_crypto_req *req,
                          kh_crypto_result *out)
{
    kh_cipher_params p;
    kh_err err = cipher_of(k, cp, &p);
    if (err != KH_OK)
        return err;
    if (!req->iv)
        return KH_ERR_MISSING_DATA;
    if (p.iv_len && p.iv_len != req->iv_len)
        return KH_ERR_INVALID_FIELD;
    p.iv = req->iv;
    p.iv_len = req->iv_len;
    p.aad = req->aad;
    p.aad_len = req->aad_len;
    size_t len = req->data_len;
    const uint8_t *tag = req->tag;
    size_t tag_len = req->tag_len;
    if (aead(&p) && req->tag_in_data) {
        tag_len = p.tag_len ? p.tag_len : 16;
        if (len < tag_len)
            return KH_ERR_CRYPTO;
        len -= tag_len;
        tag = req->data + len;
    } else if (aead(&p) && !tag) {
        return KH_ERR_MISSING_DATA;
    } else if (!aead(&p) && tag) {
        return KH_ERR_INVALID_FIELD;
    }
    return kh_cipher_decrypt(&out->data, &out->len, k->secret, &p, req->data, len, tag, tag_len);
}

/* ---- RSA -------------------------------------------------------------- */

static kh_err rsa_of(const kh_use_key *k, const kh_cparams *cp, kh_rsa_pad *pad, kh_hash *h)
{
    if (kh_pkey_type_of(k->pkey) != KH_PKEY_RSA ||
        (cp->alg && cp->alg != KH_CRYPTOGRAPHIC_ALGORITHM_RSA))
        return KH_ERR_INVALID_FIELD;
    switch (cp->padding ? cp->padding : KH_PADDING_METHOD_OAEP) {
    case KH_PADDING_METHOD_OAEP:
        *pad = KH_RSA_OAEP;
        break;
    case KH_PADDING_METHOD_PKCS1v15:
        *pad = KH_RSA_PKCS1;
        break;
    default:
        return KH_ERR_UNSUPPORTED;
    }
    uint32_t hashing = cp->hashing ? cp->hashing : KH_HASHING_ALGORITHM_SHA_256;
    if (cp->mgf_hash && cp->mgf_hash != hashing)
        return KH_ERR_UNSUPPORTED; /* MGF1 uses the label hash, as everyone does */
    *h = kh_hash_of_kmip(hashing);
    return *h == KH_HASH_NONE ? KH_ERR_UNSUPPORTED : KH_OK;
}

static kh_err rsa_encrypt(const kh_use_key *k, const kh_cparams *cp, const kh_crypto_req *req,
                          kh_crypto_result *out)
{
    kh_rsa_pad pad;
    kh_hash h;
    kh_err err = rsa_of(k, cp, &pad, &h);
    if (err != KH_OK)
        return err;
    if (req->iv || req->aad)
        return KH_ERR_INVALID_FIELD;
    return kh_rsa_encrypt(&out->data, &out->len, k->pkey, pad, h, req->data, req->data_len);
}

static kh_err rsa_decrypt(const kh_use_key *k, const kh_cparams *cp, const kh_crypto_req *req,
                          kh_crypto_result *out)
{
    kh_rsa_pad pad;
    kh_hash h;
    kh_err err = rsa_of(k, cp, &pad, &h);
    if (err != KH_OK)
        return err;
    if (!kh_pkey_has_private(k->pkey) || req->iv || req->aad || req->tag)
        return KH_ERR_INVALID_FIELD;
    if (pad == KH_RSA_PKCS1)
        kh_warn("decrypt: key %s used with RSA PKCS#1 v1.5 padding; clients should move to OAEP",
                k->obj->row->uid);
    return kh_rsa_decrypt(&out->data, &out->len, k->pkey, pad, h, req->data, req->data_len);
}

kh_err kh_op_encrypt(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out)
{
    kh_use_key k;
    kh_cparams cp;
    memset(out, 0, sizeof(*out));
    kh_err err = req->key ? kh_use_key_from(ctx, req->key, KH_USE_PROTECT,
                                            KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT, &k)
                          : kh_use_key_load(ctx, req->uid, KH_USE_PROTECT,
                                            KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT, &k);
    if (err != KH_OK)
        return err;
    if ((err = kh_cparams_resolve(req->params, k.obj, &cp)) == KH_OK)
        err = k.secret ? sym_encrypt(&k, &cp, req, out) : rsa_encrypt(&k, &cp, req, out);
    kh_use_key_clear(&k);
    if (err != KH_OK)
        kh_crypto_result_clear(out);
    return err;
}

kh_err kh_op_decrypt(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out)
{
    kh_use_key k;
    kh_cparams cp;
    memset(out, 0, sizeof(*out));
    kh_err err = req->key ? kh_use_key_from(ctx, req->key, KH_USE_PROCESS,
                                            KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT, &k)
                          : kh_use_key_load(ctx, req->uid, KH_USE_PROCESS,
                                            KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT, &k);
    if (err != KH_OK)
        return err;
    if ((err = kh_cparams_resolve(req->params, k.obj, &cp)) == KH_OK)
        err = k.secret ? sym_decrypt(&k, &cp, req, out) : rsa_decrypt(&k, &cp, req, out);
    kh_use_key_clear(&k);
    if (err != KH_OK)
        kh_crypto_result_clear(out);
    return err;
}

/* ---- MAC -------------------------------------------------------------- */

static kh_hash hmac_hash(uint32_t alg)
{
    switch (alg) {
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA1:
        return KH_HASH_SHA1;
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA224:
        return KH_HASH_SHA224;
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA256:
        return KH_HASH_SHA256;
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA384:
        return KH_HASH_SHA384;
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA512:
        return KH_HASH_SHA512;
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_224:
        return KH_HASH_SHA3_224;
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_256:
        return KH_HASH_SHA3_256;
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_384:
        return KH_HASH_SHA3_384;
    case KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA3_512:
        return KH_HASH_SHA3_512;
    default:
        return KH_HASH_NONE;
    }
}

/* HMAC keys MAC with their own hash; AES keys do CMAC. A request naming
 * another algorithm than the key's is a contradiction, not a choice. */
static kh_err mac_of(const kh_use_key *k, const kh_cparams *cp, kh_mac_alg *alg, kh_hash *h)
{
    *h = hmac_hash(k->alg);
    if (!k->secret)
        return KH_ERR_INVALID_FIELD;
    if (*h != KH_HASH_NONE) {
        *alg = KH_MAC_HMAC;
        return (cp->alg && cp->alg != k->alg) ? KH_ERR_INVALID_FIELD : KH_OK;
    }
    if (k->alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES)
        return KH_ERR_INVALID_FIELD;
    *alg = KH_MAC_CMAC_AES;
    if ((cp->alg && cp->alg != KH_CRYPTOGRAPHIC_ALGORITHM_AES) ||
        (cp->mode && cp->mode != KH_BLOCK_CIPHER_MODE_CMAC))
        return KH_ERR_INVALID_FIELD;
    return KH_OK;
}

static kh_err run_mac(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out, bool verify)
{
    kh_use_key k;
    kh_cparams cp;
    kh_mac_alg alg;
    kh_hash h;
    memset(out, 0, sizeof(*out));
    kh_err err = kh_use_key_load(ctx, req->uid, verify ? KH_USE_PROCESS : KH_USE_PROTECT,
                                 verify ? KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_VERIFY
                                        : KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE,
                                 &k);
    if (err != KH_OK)
        return err;
    if ((err = kh_cparams_resolve(req->params, k.obj, &cp)) == KH_OK)
        err = mac_of(&k, &cp, &alg, &h);
    if (err == KH_OK && verify && !req->tag)
        err = KH_ERR_MISSING_DATA;
    uint8_t mac[KH_MAC_MAX_LEN];
    size_t n = 0;
    if (err == KH_OK && verify) {
        err = kh_mac_verify(&out->valid, alg, h, k.secret, req->data, req->data_len, req->tag,
                            req->tag_len);
    } else if (err == KH_OK) {
        err = kh_mac(mac, &n, alg, h, k.secret, req->data, req->data_len);
        if (err == KH_OK) {
            out->data = dup_bytes(mac, n);
            out->len = n;
        }
    }
    kh_use_key_clear(&k);
    return err;
}

kh_err kh_op_mac(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out)
{
    return run_mac(ctx, req, out, false);
}

kh_err kh_op_mac_verify(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out)
{
    return run_mac(ctx, req, out, true);
}

/* ---- keyless ---------------------------------------------------------- */

kh_err kh_op_rng(kh_ctx *ctx, int64_t len, kh_crypto_result *out)
{
    (void)ctx;
    memset(out, 0, sizeof(*out));
    if (len < 1 || len > KH_RNG_MAX)
        return KH_ERR_INVALID_FIELD;
    out->data = kh_xmalloc((size_t)len);
    out->len = (size_t)len;
    kh_err err = kh_random_bytes(out->data, out->len);
    if (err != KH_OK)
        kh_crypto_result_clear(out);
    return err;
}

kh_err kh_op_hash(kh_ctx *ctx, const kh_ttlv *params, const uint8_t *data, size_t len,
                  kh_crypto_result *out)
{
    kh_cparams cp;
    uint8_t d[KH_HASH_MAX_LEN];
    size_t n = 0;
    (void)ctx;
    memset(out, 0, sizeof(*out));
    if (!params)
        return KH_ERR_MISSING_DATA;
    kh_err err = kh_cparams_resolve(params, NULL, &cp);
    if (err != KH_OK)
        return err;
    if (!cp.hashing)
        return KH_ERR_MISSING_DATA;
    kh_hash h = kh_hash_of_kmip(cp.hashing);
    if (h == KH_HASH_NONE)
        return KH_ERR_UNSUPPORTED;
    if ((err = kh_hash_digest(d, &n, h, data, len)) != KH_OK)
        return err;
    out->data = dup_bytes(d, n);
    out->len = n;
    return KH_OK;
}
