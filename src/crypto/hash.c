/*
 * hash.c - one-shot message digests.
 */
#include "crypto/hash.h"

#include "crypto/internal.h"

size_t kh_hash_len(kh_hash h)
{
    const EVP_MD *md = kh_crypto_md(h);
    return md ? (size_t)EVP_MD_get_size(md) : 0;
}

kh_err kh_hash_digest(uint8_t out[KH_HASH_MAX_LEN], size_t *out_len, kh_hash h, const uint8_t *p,
                      size_t len)
{
    static const uint8_t empty[1] = {0};
    const EVP_MD *md = kh_crypto_md(h);
    unsigned int n = 0;
    if (!md || (!p && len))
        return KH_ERR_INVALID_ARG;
    if (EVP_Digest(p ? p : empty, len, out, &n, md, NULL) != 1)
        return kh_crypto_fail("digest");
    *out_len = n;
    return KH_OK;
}
