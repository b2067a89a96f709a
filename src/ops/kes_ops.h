/*
 * kes_ops.h - the operations behind the KES API (proto/kes.c), on ordinary
 * keyhold objects.
 *
 * A KES key is one SymmetricKey object whose Name attribute is the KES
 * name: AES-256 when created here, AES-256 or ChaCha20 when imported;
 * owned by the calling principal, Active from creation, usage mask
 * Encrypt|Decrypt|MACGenerate. The same key is therefore found by KMIP
 * Locate by name, under the same ownership and grant rules (ops/authz.h).
 * Every function here goes through the ordinary operations (kh_op_create,
 * kh_op_encrypt, ...), so states, usage masks, grants and sealing are
 * exactly those of KMIP.
 *
 * Names are per caller: kh_kes_key_find sees the caller's own keys and
 * those granted to it for Locate, its own first. The functions that use a
 * key set ctx->perm to the permission they need (Encrypt, Decrypt, MAC,
 * Revoke then Destroy), so a grant without it is KH_ERR_PERMISSION.
 *
 * Ciphertext (docs/kes.md), all of it authenticated:
 *   version (1 byte, 0x01) || key version (4, big-endian; 1 for now) ||
 *   nonce (12) || ciphertext || tag (16)
 * AES-256-GCM, or ChaCha20-Poly1305 for a ChaCha20 key; the associated
 * data is version || key version || context. A ciphertext that does not
 * parse, names another format or key version, or fails its tag is
 * KH_ERR_CRYPTO and nothing more.
 */
#ifndef KH_OPS_KES_OPS_H
#define KH_OPS_KES_OPS_H

#include "common/err.h"
#include "crypto/secbuf.h"
#include "ops/ops.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KH_KES_NAME_MAX 80
/* The owner of the keys made on the KES listener: one namespace that every
 * identity its policy allows may use, as in KES (docs/kes.md). Not a
 * possible certificate principal (those are 64 hex digits). */
#define KH_KES_OWNER "kes"
#define KH_KES_CT_VERSION 1
#define KH_KES_KEY_VERSION 1 /* the newest (and only) version of every key */
#define KH_KES_NONCE_LEN 12
#define KH_KES_TAG_LEN 16
#define KH_KES_HDR_LEN 5
#define KH_KES_CT_OVERHEAD (KH_KES_HDR_LEN + KH_KES_NONCE_LEN + KH_KES_TAG_LEN)
#define KH_KES_DEK_LEN 32  /* generate's plaintext */
#define KH_KES_HMAC_LEN 32 /* HMAC-SHA-256 */

/* A valid KES name: [0-9A-Za-z_-], 1..80 bytes, no leading or trailing
 * '-', not "_" alone. */
bool kh_kes_name_valid(const char *name);
/* A valid list pattern: "" or "*" (everything), a valid name (exactly
 * it), or a prefix of [0-9A-Za-z_-] followed by '*' (names starting
 * with it). */
bool kh_kes_pattern_valid(const char *pattern);
/* name matches a valid pattern. */
bool kh_kes_pattern_match(const char *pattern, const char *name);

/* A ciphertext split into its parts (pointers into the parsed bytes). */
typedef struct kh_kes_ct {
    uint32_t key_version;
    const uint8_t *header; /* KH_KES_HDR_LEN bytes */
    const uint8_t *nonce;  /* KH_KES_NONCE_LEN bytes */
    const uint8_t *data;
    size_t data_len;
    const uint8_t *tag; /* KH_KES_TAG_LEN bytes */
} kh_kes_ct;

/* The header of a ciphertext under key_version (also the start of its
 * associated data). */
void kh_kes_ct_header(uint8_t hdr[KH_KES_HDR_LEN], uint32_t key_version);
/* Split ct; KH_ERR_CRYPTO when too short or not format version 1. */
kh_err kh_kes_ct_parse(const uint8_t *ct, size_t len, kh_kes_ct *out) KH_MUST_CHECK;

/* What the KES API says about a key (kh_kes_key_clear frees). */
typedef struct kh_kes_key {
    char *uid;
    char *owner;
    uint32_t alg; /* KMIP CryptographicAlgorithm */
    int32_t bits;
    int32_t state; /* KMIP State */
    int64_t created_at;
    char *created_by; /* the identity that made it (see kh_kes_key_create_by) */
    /* Set by kh_kes_key_find: the key's object as read then, which the
     * data operations below use instead of reading it again. A key found
     * is therefore a snapshot for one request; NULL = read by uid. */
    struct kh_object *loaded;
} kh_kes_key;
void kh_kes_key_clear(kh_kes_key *k);

/* The key called name that ctx->principal may see (its own first, then
 * the newest one granted to it); KH_ERR_NOT_FOUND when none or destroyed.
 * An own key found is remembered (ops/kes_keycache.h) and, next time, only
 * its row is read and checked instead of a Locate. */
kh_err kh_kes_key_find(kh_ctx *ctx, const char *name, kh_kes_key *out) KH_MUST_CHECK;

/* Create (material == NULL: AES-256 from the DRBG) or import (material:
 * 32 bytes; alg AES or ChaCha20) the key name. KH_ERR_EXISTS when the
 * caller already sees a key of that name; creations are serialized within
 * this process so that two concurrent ones cannot both win. */
kh_err kh_kes_key_create(kh_ctx *ctx, const char *name, uint32_t alg, const kh_secbuf *material,
                         kh_kes_key *out) KH_MUST_CHECK;
/* The same on behalf of created_by, kept in the custom attribute
 * KH_KES_CREATED_BY when it is not ctx->principal (keys of the KES
 * namespace, made by the KES listener as KH_KES_OWNER). */
kh_err kh_kes_key_create_by(kh_ctx *ctx, const char *created_by, const char *name, uint32_t alg,
                            const kh_secbuf *material, kh_kes_key *out) KH_MUST_CHECK;
#define KH_KES_CREATED_BY "x-kes-created-by"
/* Revoke (Cessation of Operation) if Active, then Destroy. */
kh_err kh_kes_key_delete(kh_ctx *ctx, const kh_kes_key *k) KH_MUST_CHECK;
/* Sorted, de-duplicated KES names (valid ones only) of the caller's
 * visible, non-destroyed symmetric keys that match pattern (caller frees
 * each string, then the array). */
kh_err kh_kes_key_list(kh_ctx *ctx, const char *pattern, char ***names, size_t *n) KH_MUST_CHECK;

/* Encrypt pt under k with context as associated data; *ct is malloc'd. */
kh_err kh_kes_encrypt(kh_ctx *ctx, const kh_kes_key *k, const uint8_t *pt, size_t pt_len,
                      const uint8_t *context, size_t context_len, uint8_t **ct,
                      size_t *ct_len) KH_MUST_CHECK;
/* Decrypt; *pt is malloc'd and the caller wipes it (kh_wipe_free). */
kh_err kh_kes_decrypt(kh_ctx *ctx, const kh_kes_key *k, const uint8_t *ct, size_t ct_len,
                      const uint8_t *context, size_t context_len, uint8_t **pt,
                      size_t *pt_len) KH_MUST_CHECK;
/* KH_KES_DEK_LEN fresh random bytes (*dek, caller frees) and their
 * encryption under the newest version of k (*ct, malloc'd). */
kh_err kh_kes_generate(kh_ctx *ctx, const kh_kes_key *k, const uint8_t *context, size_t context_len,
                       kh_secbuf **dek, uint8_t **ct, size_t *ct_len) KH_MUST_CHECK;
/* HMAC-SHA-256 of msg under a key derived from k's material:
 * HKDF-Expand(PRK = key, info = "keyhold/kes/hmac/v1", L = 32), i.e.
 * HMAC-SHA-256(key, info || 0x01). Needs MACGenerate in the usage mask. */
kh_err kh_kes_hmac(kh_ctx *ctx, const kh_kes_key *k, const uint8_t *msg, size_t len,
                   uint8_t out[KH_KES_HMAC_LEN]) KH_MUST_CHECK;

/* One trivial store round trip; *micros is how long it took. */
kh_err kh_kes_store_ping(kh_service *svc, int64_t *micros) KH_MUST_CHECK;

#endif
