/*
 * internal.c - helpers shared by the files of src/crypto/: the hash table
 * and the error-queue policy (the queue goes to the log, never further).
 */
#include "crypto/internal.h"

#include "common/log.h"

#include <openssl/err.h>

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
