/*
 * kes_apikey.c - KES API keys: parse, generate, derive the identity
 * (kes_apikey.h). The Ed25519 key is built by OpenSSL from the seed; the
 * seed is wiped on every path.
 */
#include "crypto/kes_apikey.h"

#include "crypto/internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <string.h>

#define PREFIX "kes:v1:"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define RAW_LEN 33 /* version byte 0x00 + seed */
#define B64_LEN 44

static void hex_lower(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* hex SHA-256 of the DER SubjectPublicKeyInfo of k. */
static kh_err identity_of_pkey(EVP_PKEY *k, char out[KH_KES_IDENTITY_LEN + 1])
{
    unsigned char *der = NULL;
    int n = k ? i2d_PUBKEY(k, &der) : -1;
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = n > 0 && EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1 &&
             mdlen == sizeof(md);
    OPENSSL_free(der);
    if (!ok)
        return kh_crypto_fail("kes identity");
    hex_lower(md, sizeof(md), out);
    return KH_OK;
}

/* Identity of the Ed25519 key made from seed (32 bytes). */
static kh_err identity_of_seed(const unsigned char *seed, char out[KH_KES_IDENTITY_LEN + 1])
{
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    kh_err err = k ? identity_of_pkey(k, out) : kh_crypto_fail("kes api key");
    EVP_PKEY_free(k);
    return err;
}

kh_err kh_kes_cert_identity(const char *path, char out[KH_KES_IDENTITY_LEN + 1])
{
    FILE *f = path ? fopen(path, "r") : NULL;
    X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    kh_err err = KH_ERR_INVALID_ARG;
    if (cert)
        err = identity_of_pkey(X509_get0_pubkey(cert), out);
    else
        (void)kh_crypto_reject(); /* not a certificate: say so, not OpenSSL's queue */
    X509_free(cert);
    return err;
}

kh_err kh_kes_apikey_identity(const char *api_key, char out[KH_KES_IDENTITY_LEN + 1])
{
    unsigned char raw[RAW_LEN + 3]; /* EVP_DecodeBlock writes whole groups */
    if (!api_key || strncmp(api_key, PREFIX, PREFIX_LEN) != 0 ||
        strlen(api_key) != PREFIX_LEN + B64_LEN)
        return KH_ERR_INVALID_ARG;
    int n = EVP_DecodeBlock(raw, (const unsigned char *)api_key + PREFIX_LEN, B64_LEN);
    kh_err err = KH_ERR_INVALID_ARG;
    if (n == RAW_LEN && raw[0] == 0x00)
        err = identity_of_seed(raw + 1, out);
    OPENSSL_cleanse(raw, sizeof(raw));
    return err;
}

kh_err kh_kes_apikey_generate(char key_out[KH_KES_APIKEY_LEN + 1],
                              char id_out[KH_KES_IDENTITY_LEN + 1])
{
    unsigned char raw[RAW_LEN] = {0};
    kh_err err = KH_ERR_CRYPTO;
    if (RAND_priv_bytes(raw + 1, 32) == 1)
        err = identity_of_seed(raw + 1, id_out);
    if (err == KH_OK) {
        memcpy(key_out, PREFIX, PREFIX_LEN);
        EVP_EncodeBlock((unsigned char *)key_out + PREFIX_LEN, raw, RAW_LEN);
        key_out[KH_KES_APIKEY_LEN] = '\0';
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    return err;
}
