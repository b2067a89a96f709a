/*
 * x509.c - the subject public key of an X.509 certificate, and comparing
 * public keys. Certificates are client-supplied bytes: a malformed one is
 * rejected quietly (kh_crypto_reject), never logged as a server fault.
 */
#include "crypto/x509.h"

#include "crypto/internal.h"

#include <openssl/x509.h>

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
