/*
 * internal.h - what the files of src/crypto/ share and nobody else sees:
 * the hash-to-EVP_MD table, the opaque kh_pkey's insides and the one way
 * of turning an OpenSSL failure into KH_ERR_CRYPTO.
 *
 * Only the .c files of src/crypto/ include this header (it includes OpenSSL).
 */
#ifndef KH_CRYPTO_INTERNAL_H
#define KH_CRYPTO_INTERNAL_H

#include "common/err.h"
#include "crypto/hash.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>

struct kh_pkey {
    EVP_PKEY *pk;
    bool has_private;
};

/* The EVP_MD for h, or NULL for KH_HASH_NONE / an unknown value. */
const EVP_MD *kh_crypto_md(kh_hash h);

/* The provider's implementation of legacy (EVP_aes_256_gcm(), ...),
 * fetched once for the process; legacy itself if that fetch failed.
 * EVP_CipherInit_ex given a built-in EVP_CIPHER fetches it again on every
 * call in OpenSSL 3 (a method-store lookup under a lock, per request). */
const EVP_CIPHER *kh_crypto_cipher(const EVP_CIPHER *legacy);

/* Log OpenSSL's error queue under what (never to a client), empty it and
 * return KH_ERR_CRYPTO. */
kh_err kh_crypto_fail(const char *what);

/* Empty the error queue quietly and return KH_ERR_CRYPTO: for failures a
 * client causes on purpose (bad tag, bad padding), which are not news. */
kh_err kh_crypto_reject(void);

/* EVP takes int lengths; keyhold bounds messages far below this anyway. */
static inline bool kh_crypto_fits_int(size_t n)
{
    return n <= (size_t)INT_MAX - 64;
}

#endif
