/*
 * kes_apikey.h - KES API keys (docs/kes.md): "kes:v1:" followed by the
 * standard base64 of 0x00 || a 32-byte Ed25519 seed.
 *
 * A KES client turns the key into a self-signed Ed25519 certificate and
 * presents it on the KES listener; the identity is, as for every KES
 * certificate, the hex SHA-256 of its DER SubjectPublicKeyInfo. keyhold
 * never needs the key itself: these functions serve `keyhold kes`, which
 * prints an identity for an operator to put in a policy.
 */
#ifndef KH_CRYPTO_KES_APIKEY_H
#define KH_CRYPTO_KES_APIKEY_H

#include "common/err.h"

#define KH_KES_APIKEY_LEN 51   /* "kes:v1:" + 44 base64 characters */
#define KH_KES_IDENTITY_LEN 64 /* hex SHA-256 */

/* The identity of api_key into out (NUL-terminated). KH_ERR_INVALID_ARG
 * when api_key is not a well-formed v1 key. */
kh_err kh_kes_apikey_identity(const char *api_key, char out[KH_KES_IDENTITY_LEN + 1]) KH_MUST_CHECK;
/* The identity of the first certificate in the PEM file at path, as the
 * KES listener computes it. KH_ERR_INVALID_ARG when there is none. */
kh_err kh_kes_cert_identity(const char *path, char out[KH_KES_IDENTITY_LEN + 1]) KH_MUST_CHECK;
/* A fresh API key (from the DRBG) and its identity. The caller wipes
 * key_out when done. */
kh_err kh_kes_apikey_generate(char key_out[KH_KES_APIKEY_LEN + 1],
                              char id_out[KH_KES_IDENTITY_LEN + 1]) KH_MUST_CHECK;

#endif
