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
 * multiple of 8 bytes). Reading these forms (Register) is not supported.
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

#endif
