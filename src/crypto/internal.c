/*
 * internal.c - helpers shared by the files of src/crypto/: the hash table
 * and the error-queue policy (the queue goes to the log, never further).
 */
#include "crypto/internal.h"

#include "common/log.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <pthread.h>

const EVP_MD *kh_crypto_md(kh_hash h)
{
    switch (h) {
    case KH_HASH_SHA1:
        return EVP_sha1();
    case KH_HASH_SHA224:
        return EVP_sha224();
    case KH_HASH_SHA256:
        return EVP_sha256();
    case KH_HASH_SHA384:
        return EVP_sha384();
    case KH_HASH_SHA512:
        return EVP_sha512();
    case KH_HASH_SHA3_224:
        return EVP_sha3_224();
    case KH_HASH_SHA3_256:
        return EVP_sha3_256();
    case KH_HASH_SHA3_384:
        return EVP_sha3_384();
    case KH_HASH_SHA3_512:
        return EVP_sha3_512();
    default:
        return NULL;
    }
}

/* The ciphers src/crypto/ uses. Fetched objects are kept for the life of
 * the process (one reference each, never freed: workers may use them
 * until exit). */
static const EVP_CIPHER *(*const known[])(void) = {
    EVP_aes_128_gcm, EVP_aes_192_gcm, EVP_aes_256_gcm, EVP_aes_128_cbc, EVP_aes_192_cbc,
    EVP_aes_256_cbc, EVP_aes_128_ctr, EVP_aes_192_ctr, EVP_aes_256_ctr, EVP_chacha20_poly1305,
};
#define NKNOWN (sizeof(known) / sizeof(known[0]))
static const EVP_CIPHER *legacy_of[NKNOWN];
static EVP_CIPHER *fetched_of[NKNOWN];
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
    for (size_t i = 0; i < NKNOWN; i++) {
        legacy_of[i] = known[i]();
        const char *name = legacy_of[i] ? OBJ_nid2sn(EVP_CIPHER_get_nid(legacy_of[i])) : NULL;
        fetched_of[i] = name ? EVP_CIPHER_fetch(NULL, name, NULL) : NULL;
    }
    ERR_clear_error(); /* a cipher the providers lack fails later, where it is used */
}

const EVP_CIPHER *kh_crypto_cipher(const EVP_CIPHER *legacy)
{
    pthread_once(&fetch_once, fetch_all);
    for (size_t i = 0; i < NKNOWN; i++)
        if (legacy_of[i] == legacy && fetched_of[i])
            return fetched_of[i];
    return legacy;
}

kh_err kh_crypto_fail(const char *what)
{
    unsigned long e;
    char msg[256];
    int any = 0;
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, msg, sizeof(msg));
        kh_error("crypto: %s: %s", what, msg);
        any = 1;
    }
    if (!any)
        kh_error("crypto: %s failed", what);
    return KH_ERR_CRYPTO;
}

kh_err kh_crypto_reject(void)
{
    ERR_clear_error();
    return KH_ERR_CRYPTO;
}
