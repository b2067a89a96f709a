/*
 * keyops.h - operations that make keys out of keys: Get in another key
 * format or wrapped by another managed key, ReKey, ReKeyKeyPair and
 * DeriveKey.
 *
 * Transport-agnostic like ops.h. Keys used here are loaded with
 * kh_use_key_load (crypto_key.h), so a wrapping or base key must belong to
 * the caller, be Active and carry the usage bit (WrapKey, DeriveKey) or the
 * operation is refused with NotFound, IllegalOperation or PermissionDenied.
 */
#ifndef KH_OPS_KEYOPS_H
#define KH_OPS_KEYOPS_H

#include "common/err.h"
#include "ops/ops.h"
#include "proto/ttlv.h"

#include <stddef.h>
#include <stdint.h>

/* A KeyWrappingSpecification; everything is borrowed. */
typedef struct kh_wrap_spec {
    uint32_t method;       /* WrappingMethod: only Encrypt is supported */
    const char *key_uid;   /* EncryptionKeyInformation's UniqueIdentifier */
    const kh_ttlv *params; /* its CryptographicParameters, or NULL */
    uint32_t encoding;     /* EncodingOption; 0 = TTLV encoding, the default */
} kh_wrap_spec;

/* Get the managed object, converted to KeyFormatType format (0 = as
 * stored) and then, when wrap is non-NULL, wrapped:
 *   AES wrapping key: RFC 5649 (default, BlockCipherMode AESKeyWrapPadding)
 *     or RFC 3394 (NISTKeyWrap);
 *   RSA wrapping key: RSA-OAEP (PaddingMethod OAEP, HashingAlgorithm,
 *     default SHA-256), or with BlockCipherMode AESKeyWrapPadding
 *     RSA-OAEP of a fresh AES-256 key followed by RFC 5649 of the material.
 * With TTLV encoding the KeyValue becomes a ByteString holding the wrapped
 * TTLV encoding of the KeyValue structure; with No Encoding it stays a
 * structure whose KeyMaterial is the wrapped key material. KeyWrappingData
 * says what was done. An object whose Extractable attribute is false is
 * not given out wrapped (PermissionDenied). Caller frees *obj. */
kh_err kh_op_get_as(kh_ctx *ctx, const char *uid, uint32_t format, const kh_wrap_spec *wrap,
                    uint32_t *object_type, kh_ttlv **obj) KH_MUST_CHECK;

/* Convert a managed object (SymmetricKey, PrivateKey, PublicKey) in place
 * to KeyFormatType format; KH_ERR_KEY_FORMAT when that conversion is not
 * one we do. */
kh_err kh_key_format_convert(kh_ttlv *obj, uint32_t format) KH_MUST_CHECK;

/* Sealed import, for Register: when obj's KeyBlock carries KeyWrappingData
 * whose EncryptionKeyInformation names a key held here, unwrap it with that
 * key (the caller's, with the UnwrapKey usage bit; an RSA private key or an
 * AES key, by the same methods as kh_op_get_as) into *plain, a plaintext
 * copy of obj (caller frees). *plain is NULL when obj is not wrapped or
 * its wrapping data names no key: it is then stored as given. */
kh_err kh_key_unwrap_import(kh_ctx *ctx, const kh_ttlv *obj, kh_ttlv **plain) KH_MUST_CHECK;

/* ReKey a symmetric key: a new key of the same algorithm and length with
 * the old one's attributes (names, usage mask, parameters, groups, custom
 * attributes), linked both ways (ReplacementObject on the old, ReplacedObject
 * on the new). offset < 0: no Offset, the old dates are kept; else the new
 * Activation Date is now + offset and the other dates keep their distance
 * to it. attrs (may be NULL) are applied last. The old key is not changed
 * otherwise: it still decrypts and verifies until it is deactivated. */
kh_err kh_op_rekey(kh_ctx *ctx, const char *uid, int64_t offset, const kh_ttlv *attrs,
                   char **new_uid) KH_MUST_CHECK;

/* ReKeyKeyPair from the private key uid: the same for both halves. */
kh_err kh_op_rekey_key_pair(kh_ctx *ctx, const char *priv_uid, int64_t offset,
                            const kh_ttlv *common, const kh_ttlv *priv, const kh_ttlv *pub,
                            char **new_priv, char **new_pub) KH_MUST_CHECK;

/* DerivationParameters; everything is borrowed, NULL when absent. */
typedef struct kh_derive_params {
    const kh_ttlv *cparams; /* CryptographicParameters */
    const uint8_t *iv;      /* InitializationVector */
    size_t iv_len;
    const uint8_t *data; /* DerivationData */
    size_t data_len;
    const uint8_t *salt;
    size_t salt_len;
    int64_t iterations; /* IterationCount, -1 when absent */
} kh_derive_params;

/* DeriveKey: a new SymmetricKey (or SecretData) from the first of uids
 * (a SymmetricKey or SecretData with the DeriveKey usage bit). attrs must
 * give CryptographicLength (and CryptographicAlgorithm for a key). */
kh_err kh_op_derive_key(kh_ctx *ctx, uint32_t object_type, const char *const *uids, size_t nuids,
                        uint32_t method, const kh_derive_params *p, const kh_ttlv *attrs,
                        char **uid) KH_MUST_CHECK;

#endif
