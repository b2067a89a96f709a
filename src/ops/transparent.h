/*
 * transparent.h - KMIP's Transparent key formats for asymmetric keys, as
 * Get and Export write them (transparent.c). Internal to ops/.
 *
 *   TransparentRSAPrivateKey  Modulus, PrivateExponent, PublicExponent, P, Q,
 *                             PrimeExponentP, PrimeExponentQ, CRTCoefficient
 *   TransparentRSAPublicKey   Modulus, PublicExponent
 *   TransparentEC(DSA|DH|MQV)PrivateKey  RecommendedCurve, D
 *   TransparentEC(DSA|DH|MQV)PublicKey   RecommendedCurve, QString (the
 *                                        uncompressed point)
 *
 * Numbers are BigIntegers (two's complement, big-endian, padded to a
 * multiple of 8 bytes). Keys registered in these forms are stored as given
 * and read back into keys wherever they are used.
 */
#ifndef KH_OPS_TRANSPARENT_H
#define KH_OPS_TRANSPARENT_H

#include "common/err.h"
#include "crypto/pkey.h"
#include "proto/ttlv.h"

#include <stdbool.h>
#include <stdint.h>

/* True for the Transparent asymmetric KeyFormatTypes above. */
bool kh_transparent_format(uint32_t format);

/* The KeyMaterial structure of k (a private key when is_private) in
 * format; KH_ERR_KEY_FORMAT when the format does not fit the key (an RSA
 * form for an EC key, a public form for a private key, Ed25519). Caller
 * frees *km. */
kh_err kh_transparent_key_material(const kh_pkey *k, bool is_private, uint32_t format,
                                   kh_ttlv **km) KH_MUST_CHECK;

/* The key in Transparent KeyMaterial km of format (a private form when
 * is_private). KH_ERR_KEY_FORMAT when the format is not one of these or
 * does not fit is_private, KH_ERR_MISSING_DATA when a number it needs is
 * absent, KH_ERR_UNSUPPORTED for another curve, KH_ERR_INVALID_FIELD when
 * a number is of the wrong type, not positive, or the numbers do not make
 * a key. Caller frees *out. */
kh_err kh_transparent_key_read(const kh_ttlv *km, uint32_t format, bool is_private,
                               kh_pkey **out) KH_MUST_CHECK;

/* Register's check of a PublicKey/PrivateKey managed object obj: when its
 * KeyBlock holds Transparent material, it must make a key of the declared
 * algorithm; *bits (0 = not declared) gets its length, or must equal it. */
kh_err kh_transparent_check(const kh_ttlv *obj, bool is_private, int32_t algorithm,
                            int32_t *bits) KH_MUST_CHECK;

#endif
