/*
 * digest.c - SHA-256 and lower-case hex.
 */
#include "crypto/digest.h"

#include "common/log.h"

#include <openssl/err.h>
#include <openssl/evp.h>

kh_err kh_sha256(const uint8_t *p, size_t len, uint8_t out[KH_SHA256_LEN])
{
    unsigned int olen = 0;
    static const uint8_t empty[1] = {0};
    if (EVP_Digest(p ? p : empty, len, out, &olen, EVP_sha256(), NULL) != 1 ||
        olen != KH_SHA256_LEN) {
        kh_error("crypto: SHA-256 failed");
        ERR_clear_error();
        return KH_ERR_CRYPTO;
    }
    return KH_OK;
}

void kh_hex(const uint8_t *p, size_t len, char *out)
{
    static const char hexd[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hexd[p[i] >> 4];
        out[2 * i + 1] = hexd[p[i] & 0x0f];
    }
    out[2 * len] = '\0';
}
