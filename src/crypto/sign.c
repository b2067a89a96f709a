/*
 * sign.c - signing and verification over EVP_DigestSign (messages) and
 * EVP_PKEY_sign (digests).
 *
 * A verification that fails is an answer (valid = false), not an error,
 * and leaves no trace in the log; only a context that cannot be set up is
 * KH_ERR_CRYPTO.
 */
#include "crypto/sign.h"

#include "common/mem.h"
#include "crypto/internal.h"

#include <openssl/rsa.h>

static kh_err check(const kh_pkey *k, const kh_sign_params *p, size_t len)
{
    if (!k || !p || !kh_crypto_fits_int(len))
        return KH_ERR_INVALID_ARG;
    kh_pkey_type t = kh_pkey_type_of(k);
    switch (p->scheme) {
    case KH_SIG_RSA_PSS:
    case KH_SIG_RSA_PKCS1:
        if (t != KH_PKEY_RSA)
            return KH_ERR_INVALID_ARG;
        break;
    case KH_SIG_ECDSA:
        if (t != KH_PKEY_EC_P256 && t != KH_PKEY_EC_P384 && t != KH_PKEY_EC_P521)
            return KH_ERR_INVALID_ARG;
        break;
    case KH_SIG_ED25519:
        return (t == KH_PKEY_ED25519 && !p->prehashed && p->hash == KH_HASH_NONE)
                   ? KH_OK
                   : KH_ERR_INVALID_ARG;
    default:
        return KH_ERR_INVALID_ARG;
    }
    if (!kh_crypto_md(p->hash))
        return KH_ERR_INVALID_ARG;
    if (p->prehashed && len != kh_hash_len(p->hash))
        return KH_ERR_INVALID_ARG;
    return KH_OK;
}

/* Padding and digest settings of an initialised pctx. */
static int configure(EVP_PKEY_CTX *pctx, const kh_sign_params *p, int verify)
{
    if (p->prehashed && EVP_PKEY_CTX_set_signature_md(pctx, kh_crypto_md(p->hash)) != 1)
        return 0;
    if (p->scheme == KH_SIG_RSA_PKCS1)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    if (p->scheme != KH_SIG_RSA_PSS)
        return 1;
    int salt =
        p->salt_len >= 0 ? p->salt_len : (verify ? RSA_PSS_SALTLEN_AUTO : RSA_PSS_SALTLEN_DIGEST);
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, kh_crypto_md(p->hash)) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) == 1;
}

static const EVP_MD *md_of(const kh_sign_params *p)
{
    return p->scheme == KH_SIG_ED25519 ? NULL : kh_crypto_md(p->hash);
}

/* The one signing context both steps use: a digest context for messages,
 * a bare key context for digests. */
typedef struct sig_ctx {
    EVP_MD_CTX *md;
    EVP_PKEY_CTX *pk; /* owned only when prehashed */
} sig_ctx;

static int ctx_init(sig_ctx *c, const kh_pkey *k, const kh_sign_params *p, int verify)
{
    EVP_PKEY_CTX *pctx = NULL;
    c->md = NULL;
    c->pk = NULL;
    if (p->prehashed) {
        if (!(c->pk = EVP_PKEY_CTX_new_from_pkey(NULL, k->pk, NULL)))
            return 0;
        int ok = verify ? EVP_PKEY_verify_init(c->pk) : EVP_PKEY_sign_init(c->pk);
        return ok == 1 && configure(c->pk, p, verify);
    }
    if (!(c->md = EVP_MD_CTX_new()))
        kh_oom();
    int ok = verify ? EVP_DigestVerifyInit(c->md, &pctx, md_of(p), NULL, k->pk)
                    : EVP_DigestSignInit(c->md, &pctx, md_of(p), NULL, k->pk);
    return ok == 1 && configure(pctx, p, verify);
}

static void ctx_free(sig_ctx *c)
{
    EVP_MD_CTX_free(c->md);
    EVP_PKEY_CTX_free(c->pk);
}

static int do_sign(sig_ctx *c, uint8_t *sig, size_t *sig_len, const uint8_t *msg, size_t len)
{
    if (c->pk)
        return EVP_PKEY_sign(c->pk, sig, sig_len, msg, len) == 1;
    return EVP_DigestSign(c->md, sig, sig_len, msg, len) == 1;
}

kh_err kh_sign(uint8_t **sig, size_t *sig_len, const kh_pkey *k, const kh_sign_params *p,
               const uint8_t *msg, size_t len)
{
    static const uint8_t empty[1] = {0};
    kh_err err = check(k, p, len);
    if (err != KH_OK || !k->has_private || (!msg && len))
        return err != KH_OK ? err : KH_ERR_INVALID_ARG;
    msg = msg ? msg : empty;
    sig_ctx c;
    size_t n = 0;
    uint8_t *buf = NULL;
    if (!ctx_init(&c, k, p, 0) || !do_sign(&c, NULL, &n, msg, len)) {
        err = kh_crypto_fail("signature setup");
        goto out;
    }
    buf = kh_xmalloc(n);
    if (!do_sign(&c, buf, &n, msg, len)) {
        err = kh_crypto_fail("signature");
        free(buf);
        goto out;
    }
    *sig = buf;
    *sig_len = n;
out:
    ctx_free(&c);
    return err;
}

kh_err kh_verify(bool *valid, const kh_pkey *k, const kh_sign_params *p, const uint8_t *msg,
                 size_t len, const uint8_t *sig, size_t sig_len)
{
    static const uint8_t empty[1] = {0};
    kh_err err = check(k, p, len);
    if (err != KH_OK || (!msg && len) || (!sig && sig_len) || !kh_crypto_fits_int(sig_len))
        return err != KH_OK ? err : KH_ERR_INVALID_ARG;
    msg = msg ? msg : empty;
    sig = sig ? sig : empty;
    sig_ctx c;
    if (!ctx_init(&c, k, p, 1)) {
        ctx_free(&c);
        return kh_crypto_fail("verification setup");
    }
    int r = c.pk ? EVP_PKEY_verify(c.pk, sig, sig_len, msg, len)
                 : EVP_DigestVerify(c.md, sig, sig_len, msg, len);
    ctx_free(&c);
    (void)kh_crypto_reject(); /* a malformed signature leaves errors behind */
    *valid = r == 1;
    return KH_OK;
}
