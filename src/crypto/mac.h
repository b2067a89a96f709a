/*
 * mac.h - message authentication codes: HMAC (SHA-1, SHA-2, SHA-3) and
 * CMAC-AES.
 *
 * Verification compares in constant time and answers valid or not; only a
 * MAC that cannot be computed at all is an error.
 */
#ifndef KH_CRYPTO_MAC_H
#define KH_CRYPTO_MAC_H

#include "common/err.h"
#include "crypto/hash.h"
#include "crypto/secbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum kh_mac_alg {
    KH_MAC_HMAC = 1,     /* with hash */
    KH_MAC_CMAC_AES = 2, /* key of 16, 24 or 32 bytes; hash ignored */
} kh_mac_alg;

#define KH_MAC_MAX_LEN 64

kh_err kh_mac(uint8_t out[KH_MAC_MAX_LEN], size_t *out_len, kh_mac_alg alg, kh_hash hash,
              const kh_secbuf *key, const uint8_t *msg, size_t len) KH_MUST_CHECK;

/* *valid is true when mac is exactly the MAC of msg (no truncation). */
kh_err kh_mac_verify(bool *valid, kh_mac_alg alg, kh_hash hash, const kh_secbuf *key,
                     const uint8_t *msg, size_t len, const uint8_t *mac,
                     size_t mac_len) KH_MUST_CHECK;

#endif
