/*
 * rand.c - random bytes and UUIDs from OpenSSL's DRBG.
 *
 * Nothing else in keyhold reads /dev/urandom or calls rand(): every nonce,
 * key and identifier comes through here.
 */
#include "crypto/rand.h"

#include "common/log.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/rand.h>

kh_err kh_random_bytes(uint8_t *out, size_t len)
{
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(out, chunk) != 1) {
            unsigned long e;
            char msg[256];
            while ((e = ERR_get_error()) != 0) {
                ERR_error_string_n(e, msg, sizeof(msg));
                kh_error("crypto: RAND_bytes: %s", msg);
            }
            return KH_ERR_CRYPTO;
        }
        out += chunk;
        len -= (size_t)chunk;
    }
    return KH_OK;
}

kh_err kh_uuid4(char out[KH_UUID_STRLEN + 1])
{
    static const char hexd[] = "0123456789abcdef";
    uint8_t r[16];
    kh_err err = kh_random_bytes(r, sizeof(r));
    if (err != KH_OK)
        return err;
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    size_t o = 0;
    for (size_t i = 0; i < sizeof(r); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexd[r[i] >> 4];
        out[o++] = hexd[r[i] & 0x0f];
    }
    out[o] = '\0';
    return KH_OK;
}
