/*
 * rand.h - randomness from OpenSSL's DRBG.
 */
#ifndef KH_CRYPTO_RAND_H
#define KH_CRYPTO_RAND_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

kh_err kh_random_bytes(uint8_t *out, size_t len) KH_MUST_CHECK;
/* Random RFC 4122 version 4 UUID, lower-case, NUL-terminated. */
#define KH_UUID_STRLEN 36
kh_err kh_uuid4(char out[KH_UUID_STRLEN + 1]) KH_MUST_CHECK;

#endif
