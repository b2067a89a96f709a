/*
 * x509.h - reading X.509 certificates: only as much as keyhold needs to
 * tie a certificate to the public key it certifies. No path validation
 * here: keyhold stores certificates, it does not decide whom to trust.
 */
#ifndef KH_CRYPTO_X509_H
#define KH_CRYPTO_X509_H

#include "common/err.h"
#include "crypto/pkey.h"

#include <stddef.h>
#include <stdint.h>

/* The subject public key of the DER certificate der[0..len) (which must be
 * exactly one certificate). Malformed input is KH_ERR_CRYPTO, a key type
 * keyhold does not use KH_ERR_UNSUPPORTED. Caller frees *out. */
kh_err kh_x509_public_key(kh_pkey **out, const uint8_t *der, size_t len) KH_MUST_CHECK;

/* True when a and b hold the same public key (their private halves, if
 * any, are not looked at). */
bool kh_pkey_public_equal(const kh_pkey *a, const kh_pkey *b);

#endif
