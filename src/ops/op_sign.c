/*
 * op_sign.c - Sign and SignatureVerify: RSA-PSS, RSA PKCS#1 v1.5, ECDSA
 * and Ed25519, over data or a digest the client computed.
 *
 * The scheme comes from DigitalSignatureAlgorithm when given, else from
 * PaddingMethod and HashingAlgorithm, else from the key: RSA -> PSS with
 * SHA-256, EC -> ECDSA with SHA-256, Ed25519 -> Ed25519.
 */
#include "ops/crypto_key.h"
#include "ops/crypto_ops.h"

#include "common/mem.h"
#include "crypto/sign.h"
#include "proto/kmip_consts.h"

#include <string.h>

/* DigitalSignatureAlgorithm -> scheme and hash; false when not ours. */
static bool from_dsa(uint32_t dsa, kh_sig_scheme *s, kh_hash *h)
{
    static const struct {
        uint32_t dsa;
        kh_sig_scheme scheme;
        kh_hash hash;
    } table[] = {
        {KH_DIGITAL_SIGNATURE_ALGORITHM_SHA1_WITH_RSA_ENCRYPTION, KH_SIG_RSA_PKCS1, KH_HASH_SHA1},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_SHA224_WITH_RSA_ENCRYPTION, KH_SIG_RSA_PKCS1,
         KH_HASH_SHA224},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_SHA256_WITH_RSA_ENCRYPTION, KH_SIG_RSA_PKCS1,
         KH_HASH_SHA256},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_SHA384_WITH_RSA_ENCRYPTION, KH_SIG_RSA_PKCS1,
         KH_HASH_SHA384},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_SHA512_WITH_RSA_ENCRYPTION, KH_SIG_RSA_PKCS1,
         KH_HASH_SHA512},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_SHA3_256_WITH_RSA_ENCRYPTION, KH_SIG_RSA_PKCS1,
         KH_HASH_SHA3_256},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_SHA3_384_WITH_RSA_ENCRYPTION, KH_SIG_RSA_PKCS1,
         KH_HASH_SHA3_384},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_SHA3_512_WITH_RSA_ENCRYPTION, KH_SIG_RSA_PKCS1,
         KH_HASH_SHA3_512},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_RSASSA_PSS, KH_SIG_RSA_PSS, KH_HASH_NONE},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA1, KH_SIG_ECDSA, KH_HASH_SHA1},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA224, KH_SIG_ECDSA, KH_HASH_SHA224},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA256, KH_SIG_ECDSA, KH_HASH_SHA256},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA384, KH_SIG_ECDSA, KH_HASH_SHA384},
        {KH_DIGITAL_SIGNATURE_ALGORITHM_ECDSA_WITH_SHA512, KH_SIG_ECDSA, KH_HASH_SHA512},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].dsa == dsa) {
            *s = table[i].scheme;
            *h = table[i].hash;
            return true;
        }
    }
    return false;
}

static kh_err rsa_scheme(const kh_cparams *cp, kh_sig_scheme *s)
{
    switch (cp->padding ? cp->padding : KH_PADDING_METHOD_PSS) {
    case KH_PADDING_METHOD_PSS:
        *s = KH_SIG_RSA_PSS;
        return KH_OK;
    case KH_PADDING_METHOD_PKCS1v15:
        *s = KH_SIG_RSA_PKCS1;
        return KH_OK;
    default:
        return KH_ERR_UNSUPPORTED;
    }
}

static bool alg_fits(uint32_t alg, kh_pkey_type t)
{
    if (!alg)
        return true;
    if (t == KH_PKEY_RSA)
        return alg == KH_CRYPTOGRAPHIC_ALGORITHM_RSA;
    if (t == KH_PKEY_ED25519)
        return alg == KH_CRYPTOGRAPHIC_ALGORITHM_ED25519;
    return alg == KH_CRYPTOGRAPHIC_ALGORITHM_EC || alg == KH_CRYPTOGRAPHIC_ALGORITHM_ECDSA;
}

static kh_err scheme_of(const kh_pkey *key, const kh_cparams *cp, kh_sign_params *sp)
{
    kh_pkey_type t = kh_pkey_type_of(key);
    kh_hash dsa_hash = KH_HASH_NONE;
    if (!alg_fits(cp->alg, t))
        return KH_ERR_INVALID_FIELD;
    if (t == KH_PKEY_ED25519) {
        sp->scheme = KH_SIG_ED25519;
        sp->hash = KH_HASH_NONE;
        return (cp->dsa || cp->hashing || sp->prehashed) ? KH_ERR_INVALID_FIELD : KH_OK;
    }
    if (cp->dsa) {
        if (!from_dsa(cp->dsa, &sp->scheme, &dsa_hash))
            return KH_ERR_UNSUPPORTED;
    } else if (t == KH_PKEY_RSA) {
        kh_err err = rsa_scheme(cp, &sp->scheme);
        if (err != KH_OK)
            return err;
    } else {
        sp->scheme = KH_SIG_ECDSA;
    }
    if ((sp->scheme == KH_SIG_ECDSA) != (t != KH_PKEY_RSA))
        return KH_ERR_INVALID_FIELD; /* an RSA algorithm for an EC key or the reverse */
    kh_hash asked = cp->hashing ? kh_hash_of_kmip(cp->hashing) : KH_HASH_NONE;
    if (cp->hashing && asked == KH_HASH_NONE)
        return KH_ERR_UNSUPPORTED;
    if (dsa_hash != KH_HASH_NONE && asked != KH_HASH_NONE && asked != dsa_hash)
        return KH_ERR_INVALID_FIELD;
    sp->hash = dsa_hash != KH_HASH_NONE ? dsa_hash : asked != KH_HASH_NONE ? asked : KH_HASH_SHA256;
    return KH_OK;
}

static kh_err run(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out, bool verify)
{
    kh_use_key k;
    kh_cparams cp;
    kh_sign_params sp = {0};
    memset(out, 0, sizeof(*out));
    kh_err err = kh_use_key_load(
        ctx, req->uid, verify ? KH_USE_PROCESS : KH_USE_PROTECT,
        verify ? KH_CRYPTOGRAPHIC_USAGE_MASK_VERIFY : KH_CRYPTOGRAPHIC_USAGE_MASK_SIGN, &k);
    if (err != KH_OK)
        return err;
    sp.prehashed = req->digested;
    sp.salt_len = -1;
    if (!k.pkey || (!verify && k.type != KH_OBJECT_TYPE_PRIVATE_KEY))
        err = KH_ERR_INVALID_FIELD;
    if (err == KH_OK)
        err = kh_cparams_resolve(req->params, k.obj, &cp);
    if (err == KH_OK) {
        sp.salt_len = cp.salt_len;
        err = scheme_of(k.pkey, &cp, &sp);
    }
    if (err == KH_OK && req->digested && req->data_len != kh_hash_len(sp.hash))
        err = KH_ERR_INVALID_FIELD;
    if (err == KH_OK && verify && !req->tag)
        err = KH_ERR_MISSING_DATA;
    if (err == KH_OK && verify)
        err = kh_verify(&out->valid, k.pkey, &sp, req->data, req->data_len, req->tag, req->tag_len);
    else if (err == KH_OK)
        err = kh_sign(&out->data, &out->len, k.pkey, &sp, req->data, req->data_len);
    kh_use_key_clear(&k);
    return err;
}

kh_err kh_op_sign(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out)
{
    return run(ctx, req, out, false);
}

kh_err kh_op_verify(kh_ctx *ctx, const kh_crypto_req *req, kh_crypto_result *out)
{
    return run(ctx, req, out, true);
}
