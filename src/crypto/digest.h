/*
 * digest.h - SHA-256 and hex helpers.
 */
#ifndef KH_CRYPTO_DIGEST_H
#define KH_CRYPTO_DIGEST_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define KH_SHA256_LEN 32
kh_err kh_sha256(const uint8_t *p, size_t len, uint8_t out[KH_SHA256_LEN]) KH_MUST_CHECK;
/* Lower-case hex of p[0..len) into out (2*len+1 bytes). */
void kh_hex(const uint8_t *p, size_t len, char *out);

#endif
