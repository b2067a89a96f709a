/*
 * rand.h - randomness from OpenSSL's DRBG.
 */
#ifndef KH_CRYPTO_RAND_H
#define KH_CRYPTO_RAND_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

/* Public random values: nonces, IVs, identifiers, what a client asks for. */
kh_err kh_random_bytes(uint8_t *out, size_t len) KH_MUST_CHECK;
/* Secrets (key material, API key secrets): OpenSSL's private DRBG, a
 * generator of its own that never produces a public value, so that
 * whatever the public outputs reveal about their generator says nothing
 * about the one that made the keys. */
kh_err kh_random_secret(uint8_t *out, size_t len) KH_MUST_CHECK;
/* Random RFC 4122 version 4 UUID, lower-case, NUL-terminated. */
#define KH_UUID_STRLEN 36
kh_err kh_uuid4(char out[KH_UUID_STRLEN + 1]) KH_MUST_CHECK;
/* RFC 9562 version 7 UUID: the current Unix time in milliseconds, then 74
 * random bits; same format. Ones made later sort after (to the
 * millisecond), so a B-tree index of them grows at its right edge: a batch
 * of new objects dirties one index page, not one each. They tell when an
 * object was made, which its Initial Date attribute says anyway. */
kh_err kh_uuid7(char out[KH_UUID_STRLEN + 1]) KH_MUST_CHECK;

#endif
