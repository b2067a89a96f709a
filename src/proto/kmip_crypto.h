/*
 * kmip_crypto.h - the KMIP operations that use keys (CreateKeyPair,
 * Encrypt, Decrypt, Sign, SignatureVerify, MAC, MACVerify, RNGRetrieve,
 * Hash): one family table for kmip_dispatch.c.
 */
#ifndef KH_PROTO_KMIP_CRYPTO_H
#define KH_PROTO_KMIP_CRYPTO_H

#include "proto/kmip_dispatch.h"

extern const kh_kmip_op kh_kmip_crypto_ops[];
extern const size_t kh_kmip_crypto_ops_count;

#endif
