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
#include <time.h>

/* out from gen (RAND_bytes or RAND_priv_bytes), in chunks it can take. */
static kh_err fill(int (*gen)(unsigned char *buf, int num), const char *name, uint8_t *out,
                   size_t len)
{
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (gen(out, chunk) != 1) {
            unsigned long e;
            char msg[256];
            while ((e = ERR_get_error()) != 0) {
                ERR_error_string_n(e, msg, sizeof(msg));
                kh_error("crypto: %s: %s", name, msg);
            }
            return KH_ERR_CRYPTO;
        }
        out += chunk;
        len -= (size_t)chunk;
    }
    return KH_OK;
}

kh_err kh_random_bytes(uint8_t *out, size_t len)
{
    return fill(RAND_bytes, "RAND_bytes", out, len);
}

kh_err kh_random_secret(uint8_t *out, size_t len)
{
    return fill(RAND_priv_bytes, "RAND_priv_bytes", out, len);
}

static void uuid_format(uint8_t r[16], char out[KH_UUID_STRLEN + 1])
{
    static const char hexd[] = "0123456789abcdef";
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 / 9562 variant */
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexd[r[i] >> 4];
        out[o++] = hexd[r[i] & 0x0f];
    }
    out[o] = '\0';
}

kh_err kh_uuid4(char out[KH_UUID_STRLEN + 1])
{
    uint8_t r[16];
    kh_err err = kh_random_bytes(r, sizeof(r));
    if (err != KH_OK)
        return err;
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
    uuid_format(r, out);
    return KH_OK;
}

kh_err kh_uuid7(char out[KH_UUID_STRLEN + 1])
{
    uint8_t r[16];
    struct timespec now;
    kh_err err = kh_random_bytes(r, sizeof(r));
    if (err != KH_OK)
        return err;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++) /* 48 bits, big-endian */
        r[i] = (uint8_t)(ms >> (8 * (5 - i)));
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x70); /* version 7 */
    uuid_format(r, out);
    return KH_OK;
}
