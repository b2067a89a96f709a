/*
 * x509.c - the subject public key of an X.509 certificate, comparing
 * public keys, PKCS#10 requests and issuing certificates. Certificates and
 * requests are client-supplied bytes: a malformed one is rejected quietly
 * (kh_crypto_reject), never logged as a server fault.
 */
#include "crypto/x509.h"

#include "common/mem.h"
#include "crypto/internal.h"
#include "crypto/rand.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

kh_err kh_x509_public_key(kh_pkey **out, const uint8_t *der, size_t len)
{
    if (!der || !len || !kh_crypto_fits_int(len))
        return KH_ERR_CRYPTO;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x)
        return kh_crypto_reject();
    kh_err err = KH_OK;
    unsigned char *spki = NULL;
    if (p != der + len) { /* trailing bytes: not one certificate */
        err = KH_ERR_CRYPTO;
        goto out;
    }
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
    if (n <= 0) {
        err = kh_crypto_reject();
        goto out;
    }
    /* Through the same reader as registered public keys, so a certificate
     * and a key are compared as the same kind of value. */
    err = kh_pkey_import(out, false, KH_PKEY_SPKI, spki, (size_t)n);
out:
    OPENSSL_free(spki);
    X509_free(x);
    return err;
}

bool kh_pkey_public_equal(const kh_pkey *a, const kh_pkey *b)
{
    return a && b && EVP_PKEY_eq(a->pk, b->pk) == 1;
}

/* Copy an OpenSSL i2d result into a malloc'd buffer of ours. */
static kh_err copy_out(unsigned char *p, int n, uint8_t **out, size_t *len)
{
    if (n <= 0 || !p)
        return kh_crypto_fail("DER encoding");
    *out = kh_xmalloc((size_t)n);
    memcpy(*out, p, (size_t)n);
    *len = (size_t)n;
    return KH_OK;
}

static X509_REQ *csr_decode(const uint8_t *req, size_t len, bool pem)
{
    if (!pem) {
        const unsigned char *p = req;
        X509_REQ *r = d2i_X509_REQ(NULL, &p, (long)len);
        if (r && p != req + len) { /* trailing bytes: not one request */
            X509_REQ_free(r);
            return NULL;
        }
        return r;
    }
    BIO *b = BIO_new_mem_buf(req, (int)len);
    X509_REQ *r = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return r;
}

kh_err kh_x509_csr_read(kh_pkey **key, uint8_t **subject, size_t *subject_len, const uint8_t *req,
                        size_t len, bool pem)
{
    if (!req || !len || !kh_crypto_fits_int(len))
        return KH_ERR_CRYPTO;
    X509_REQ *r = csr_decode(req, len, pem);
    if (!r)
        return kh_crypto_reject();
    kh_err err = KH_OK;
    unsigned char *spki = NULL, *name = NULL;
    kh_pkey *k = NULL;
    EVP_PKEY *pk = X509_REQ_get0_pubkey(r);
    if (!pk || X509_REQ_verify(r, pk) != 1) {
        err = kh_crypto_reject();
        goto out;
    }
    int n = i2d_PUBKEY(pk, &spki);
    if (n <= 0) {
        err = kh_crypto_reject();
        goto out;
    }
    if ((err = kh_pkey_import(&k, false, KH_PKEY_SPKI, spki, (size_t)n)) != KH_OK)
        goto out;
    n = i2d_X509_NAME(X509_REQ_get_subject_name(r), &name);
    if ((err = copy_out(name, n, subject, subject_len)) != KH_OK)
        goto out;
    *key = k;
    k = NULL;
out:
    kh_pkey_free(&k);
    OPENSSL_free(name);
    OPENSSL_free(spki);
    X509_REQ_free(r);
    return err;
}

static kh_err set_serial(X509 *x)
{
    uint8_t raw[16];
    kh_err err = kh_random_bytes(raw, sizeof(raw));
    if (err != KH_OK)
        return err;
    raw[0] &= 0x7f; /* positive, and never more than 20 octets */
    raw[0] |= 0x40; /* and never a leading zero octet */
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    int ok = serial && X509_set_serialNumber(x, serial) == 1;
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok ? KH_OK : kh_crypto_fail("serial number");
}

static kh_err set_subject(X509 *x, const kh_x509_issue_params *p)
{
    X509_NAME *name = NULL;
    if (p->subject) {
        const unsigned char *d = p->subject;
        name = d2i_X509_NAME(NULL, &d, (long)p->subject_len);
    } else if (p->subject_cn) {
        name = X509_NAME_new();
        if (name &&
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                       (const unsigned char *)p->subject_cn, -1, -1, 0) != 1) {
            X509_NAME_free(name);
            name = NULL;
        }
    }
    int ok = name && X509_set_subject_name(x, name) == 1;
    X509_NAME_free(name);
    return ok ? KH_OK : kh_crypto_reject(); /* a subject the client gave that does not encode */
}

static kh_err add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok ? KH_OK : kh_crypto_fail("certificate extension");
}

/* Version, serial, names, validity, key and extensions. */
static kh_err fill(X509 *x, X509 *issuer, const kh_x509_issue_params *p)
{
    kh_err err;
    if (X509_set_version(x, 2) != 1)
        return kh_crypto_fail("certificate version");
    if ((err = set_serial(x)) != KH_OK || (err = set_subject(x, p)) != KH_OK)
        return err;
    X509_NAME *iname = issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x);
    if (X509_set_issuer_name(x, iname) != 1 ||
        !ASN1_TIME_set(X509_getm_notBefore(x), (time_t)p->not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)p->not_after) ||
        X509_set_pubkey(x, p->subject_key->pk) != 1)
        return kh_crypto_fail("certificate fields");
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if ((err = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")) != KH_OK ||
        (err = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) != KH_OK)
        return err;
    /* keyid when the issuer has one; a self-issued one has the SKI above */
    return add_ext(x, &ctx, NID_authority_key_identifier, "keyid");
}

kh_err kh_x509_issue(uint8_t **der, size_t *len, const kh_x509_issue_params *p)
{
    if (!p->subject_key || !p->issuer_key || !p->issuer_key->has_private ||
        (!p->subject && !p->subject_cn))
        return KH_ERR_INVALID_ARG;
    kh_err err = KH_OK;
    X509 *issuer = NULL, *x = X509_new();
    unsigned char *out = NULL;
    if (!x)
        return kh_crypto_fail("X509_new");
    if (p->issuer_cert) {
        const unsigned char *d = p->issuer_cert;
        if (!kh_crypto_fits_int(p->issuer_cert_len) ||
            !(issuer = d2i_X509(NULL, &d, (long)p->issuer_cert_len))) {
            err = kh_crypto_reject();
            goto out;
        }
    }
    if ((err = fill(x, issuer, p)) != KH_OK)
        goto out;
    /* Ed25519 signs the message itself: no digest to name */
    const EVP_MD *md =
        EVP_PKEY_get_base_id(p->issuer_key->pk) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    if (X509_sign(x, p->issuer_key->pk, md) <= 0) {
        err = kh_crypto_fail("certificate signature");
        goto out;
    }
    err = copy_out(out, i2d_X509(x, &out), der, len);
out:
    OPENSSL_free(out);
    X509_free(issuer);
    X509_free(x);
    return err;
}
