/*
 * kmip_crypto.c - KMIP payloads of the cryptographic operations to
 * ops/crypto_ops.h calls and back.
 *
 * These operations exist from KMIP 1.2 on; an older request gets
 * OperationNotSupported. AuthenticatedEncryptionAdditionalData,
 * AuthenticatedEncryptionTag and DigestedData exist from 1.4 on: in a 1.2
 * or 1.3 message they are refused, and the AEAD tag travels at the end of
 * Data instead (appended on Encrypt, split off on Decrypt), which is what
 * a 1.2 client such as PyKMIP can carry. Streaming (CorrelationValue,
 * Init/FinalIndicator) is not supported.
 */
#include "proto/kmip_crypto.h"

#include "common/mem.h"
#include "ops/crypto_ops.h"
#include "proto/kmip_attrs.h"
#include "proto/kmip_consts.h"

#include <string.h>

static const uint8_t empty[1] = {0};

static bool at_least(const kh_kmip_call *c, int major, int minor)
{
    return c->version.major > major || (c->version.major == major && c->version.minor >= minor);
}

/* An optional ByteString child: *p stays NULL when absent. */
static kh_err bytes_in(const kh_ttlv *p, uint32_t tag, const uint8_t **out, size_t *len)
{
    const kh_ttlv *b = kh_ttlv_find(p, tag);
    *out = NULL;
    *len = 0;
    if (!b)
        return KH_OK;
    if (b->type != KH_TTLV_BYTE_STRING)
        return KH_ERR_INVALID_FIELD;
    *out = b->len ? b->data : empty;
    *len = b->len;
    return KH_OK;
}

static kh_err common_checks(kh_kmip_call *c, const kh_ttlv *p)
{
    static const uint32_t v14[] = {KH_TAG_AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA,
                                   KH_TAG_AUTHENTICATED_ENCRYPTION_TAG, KH_TAG_DIGESTED_DATA};
    if (!at_least(c, 1, 2))
        return KH_ERR_UNSUPPORTED_OP;
    for (size_t i = 0; !at_least(c, 1, 4) && i < sizeof(v14) / sizeof(v14[0]); i++) {
        if (kh_ttlv_find(p, v14[i])) {
            c->result_message = "field defined from KMIP 1.4 on";
            return KH_ERR_DECODE;
        }
    }
    if (kh_ttlv_find(p, KH_TAG_CORRELATION_VALUE) || kh_ttlv_find(p, KH_TAG_INIT_INDICATOR) ||
        kh_ttlv_find(p, KH_TAG_FINAL_INDICATOR)) {
        c->result_message = "streaming operations are not supported";
        return KH_ERR_UNSUPPORTED;
    }
    const kh_ttlv *cp = kh_ttlv_find(p, KH_TAG_CRYPTOGRAPHIC_PARAMETERS);
    return (cp && cp->type != KH_TTLV_STRUCTURE) ? KH_ERR_INVALID_FIELD : KH_OK;
}

/* Everything a keyed operation may carry; check is the tag of the value
 * to check (tag, signature or MAC), 0 for none. */
static kh_err req_in(kh_kmip_call *c, const kh_ttlv *p, uint32_t check, kh_crypto_req *req)
{
    const uint8_t *digest = NULL;
    size_t digest_len = 0;
    memset(req, 0, sizeof(*req));
    kh_err err = common_checks(c, p);
    if (err == KH_OK)
        err = kh_kmip_uid_in(c, p, KH_TAG_UNIQUE_IDENTIFIER, &req->uid);
    if (err == KH_OK)
        err = bytes_in(p, KH_TAG_DATA, &req->data, &req->data_len);
    if (err == KH_OK)
        err = bytes_in(p, KH_TAG_DIGESTED_DATA, &digest, &digest_len);
    if (err == KH_OK)
        err = bytes_in(p, KH_TAG_IV_COUNTER_NONCE, &req->iv, &req->iv_len);
    if (err == KH_OK)
        err =
            bytes_in(p, KH_TAG_AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, &req->aad, &req->aad_len);
    if (err == KH_OK && check)
        err = bytes_in(p, check, &req->tag, &req->tag_len);
    if (err != KH_OK)
        return err;
    if (req->data && digest)
        return KH_ERR_INVALID_FIELD; /* one or the other */
    if (digest) {
        req->data = digest;
        req->data_len = digest_len;
        req->digested = true;
    }
    if (!req->data) {
        c->result_message = "no Data";
        return KH_ERR_MISSING_DATA;
    }
    req->params = kh_ttlv_find(p, KH_TAG_CRYPTOGRAPHIC_PARAMETERS);
    req->tag_in_data = !at_least(c, 1, 4);
    return KH_OK;
}

static void bytes_out(kh_ttlv *resp, uint32_t tag, const uint8_t *p, size_t n)
{
    kh_ttlv_add_take(resp, kh_ttlv_new_bytes(tag, p, n));
}

static void validity_out(kh_ttlv *resp, bool valid)
{
    kh_ttlv_add_take(
        resp, kh_ttlv_new_enum(KH_TAG_VALIDITY_INDICATOR, valid ? KH_VALIDITY_INDICATOR_VALID
                                                                : KH_VALIDITY_INDICATOR_INVALID));
}

typedef kh_err (*keyed_fn)(kh_ctx *, const kh_crypto_req *, kh_crypto_result *);

/* Read, run, answer UniqueIdentifier first: the shape all keyed
 * operations share. */
static kh_err keyed(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp, uint32_t check, keyed_fn fn,
                    kh_crypto_result *r)
{
    kh_crypto_req req;
    memset(r, 0, sizeof(*r)); /* the caller clears r whatever happens */
    kh_err err = req_in(c, p, check, &req);
    if (err == KH_OK)
        err = fn(c->ctx, &req, r);
    if (err == KH_OK)
        kh_kmip_uid_out(c, resp, KH_TAG_UNIQUE_IDENTIFIER, req.uid, true);
    return err;
}

static kh_err op_encrypt(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_crypto_result r;
    kh_err err = keyed(c, p, resp, 0, kh_op_encrypt, &r);
    if (err != KH_OK)
        return err;
    bytes_out(resp, KH_TAG_DATA, r.data, r.len);
    if (r.iv)
        bytes_out(resp, KH_TAG_IV_COUNTER_NONCE, r.iv, r.iv_len);
    if (r.tag)
        bytes_out(resp, KH_TAG_AUTHENTICATED_ENCRYPTION_TAG, r.tag, r.tag_len);
    kh_crypto_result_clear(&r);
    return KH_OK;
}

static kh_err op_decrypt(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_crypto_result r;
    kh_err err = keyed(c, p, resp, KH_TAG_AUTHENTICATED_ENCRYPTION_TAG, kh_op_decrypt, &r);
    if (err != KH_OK)
        return err;
    bytes_out(resp, KH_TAG_DATA, r.data, r.len);
    kh_crypto_result_clear(&r);
    return KH_OK;
}

static kh_err op_sign(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_crypto_result r;
    kh_err err = keyed(c, p, resp, 0, kh_op_sign, &r);
    if (err != KH_OK)
        return err;
    bytes_out(resp, KH_TAG_SIGNATURE_DATA, r.data, r.len);
    kh_crypto_result_clear(&r);
    return KH_OK;
}

static kh_err op_signature_verify(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_crypto_result r;
    kh_err err = keyed(c, p, resp, KH_TAG_SIGNATURE_DATA, kh_op_verify, &r);
    if (err == KH_OK)
        validity_out(resp, r.valid);
    kh_crypto_result_clear(&r);
    return err;
}

static kh_err op_mac(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_crypto_result r;
    kh_err err = keyed(c, p, resp, 0, kh_op_mac, &r);
    if (err != KH_OK)
        return err;
    bytes_out(resp, KH_TAG_MAC_DATA, r.data, r.len);
    kh_crypto_result_clear(&r);
    return KH_OK;
}

static kh_err op_mac_verify(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_crypto_result r;
    kh_err err = keyed(c, p, resp, KH_TAG_MAC_DATA, kh_op_mac_verify, &r);
    if (err == KH_OK)
        validity_out(resp, r.valid);
    kh_crypto_result_clear(&r);
    return err;
}

static kh_err op_rng_retrieve(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_crypto_result r;
    int32_t len;
    if (!at_least(c, 1, 2))
        return KH_ERR_UNSUPPORTED_OP;
    kh_err err = kh_ttlv_get_int(p, KH_TAG_DATA_LENGTH, &len);
    if (err == KH_OK)
        err = kh_op_rng(c->ctx, len, &r);
    if (err != KH_OK)
        return err;
    bytes_out(resp, KH_TAG_DATA, r.data, r.len);
    kh_crypto_result_clear(&r);
    return KH_OK;
}

static kh_err op_hash(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_crypto_result r;
    const uint8_t *data;
    size_t len;
    kh_err err = common_checks(c, p);
    if (err == KH_OK)
        err = bytes_in(p, KH_TAG_DATA, &data, &len);
    if (err == KH_OK && !data)
        err = KH_ERR_MISSING_DATA;
    if (err == KH_OK)
        err = kh_op_hash(c->ctx, kh_ttlv_find(p, KH_TAG_CRYPTOGRAPHIC_PARAMETERS), data, len, &r);
    if (err != KH_OK)
        return err;
    bytes_out(resp, KH_TAG_DATA, r.data, r.len);
    kh_crypto_result_clear(&r);
    return KH_OK;
}

static kh_err op_create_key_pair(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    kh_ttlv *common = NULL, *priv = NULL, *pub = NULL;
    char *priv_uid = NULL, *pub_uid = NULL;
    kh_err err = kh_kmip_pair_attrs_in(c, p, KH_TAG_COMMON_TEMPLATE_ATTRIBUTE,
                                       KH_TAG_COMMON_ATTRIBUTES, &common);
    if (err == KH_OK)
        err = kh_kmip_pair_attrs_in(c, p, KH_TAG_PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
                                    KH_TAG_PRIVATE_KEY_ATTRIBUTES, &priv);
    if (err == KH_OK)
        err = kh_kmip_pair_attrs_in(c, p, KH_TAG_PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
                                    KH_TAG_PUBLIC_KEY_ATTRIBUTES, &pub);
    if (err == KH_OK)
        err = kh_op_create_key_pair(c->ctx, common, priv, pub, &priv_uid, &pub_uid);
    if (err == KH_OK) {
        /* the placeholder is the private key, as KMIP says */
        kh_kmip_uid_out(c, resp, KH_TAG_PRIVATE_KEY_UNIQUE_IDENTIFIER, priv_uid, true);
        kh_kmip_uid_out(c, resp, KH_TAG_PUBLIC_KEY_UNIQUE_IDENTIFIER, pub_uid, false);
    }
    free(priv_uid);
    free(pub_uid);
    kh_ttlv_free(&common);
    kh_ttlv_free(&priv);
    kh_ttlv_free(&pub);
    return err;
}

#define STREAMING KH_TAG_CORRELATION_VALUE, KH_TAG_INIT_INDICATOR, KH_TAG_FINAL_INDICATOR

const kh_kmip_op kh_kmip_crypto_ops[] = {
    {KH_OPERATION_CREATE_KEY_PAIR, op_create_key_pair,
     KH_TAGS(KH_TAG_COMMON_TEMPLATE_ATTRIBUTE, KH_TAG_PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
             KH_TAG_PUBLIC_KEY_TEMPLATE_ATTRIBUTE, KH_TAG_COMMON_ATTRIBUTES,
             KH_TAG_PRIVATE_KEY_ATTRIBUTES, KH_TAG_PUBLIC_KEY_ATTRIBUTES,
             KH_TAG_COMMON_PROTECTION_STORAGE_MASKS, KH_TAG_PRIVATE_PROTECTION_STORAGE_MASKS,
             KH_TAG_PUBLIC_PROTECTION_STORAGE_MASKS)},
    {KH_OPERATION_ENCRYPT, op_encrypt,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_CRYPTOGRAPHIC_PARAMETERS, KH_TAG_DATA,
             KH_TAG_IV_COUNTER_NONCE, KH_TAG_AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA, STREAMING)},
    {KH_OPERATION_DECRYPT, op_decrypt,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_CRYPTOGRAPHIC_PARAMETERS, KH_TAG_DATA,
             KH_TAG_IV_COUNTER_NONCE, KH_TAG_AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA,
             KH_TAG_AUTHENTICATED_ENCRYPTION_TAG, STREAMING)},
    {KH_OPERATION_SIGN, op_sign,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_CRYPTOGRAPHIC_PARAMETERS, KH_TAG_DATA,
             KH_TAG_DIGESTED_DATA, STREAMING)},
    {KH_OPERATION_SIGNATURE_VERIFY, op_signature_verify,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_CRYPTOGRAPHIC_PARAMETERS, KH_TAG_DATA,
             KH_TAG_DIGESTED_DATA, KH_TAG_SIGNATURE_DATA, STREAMING)},
    {KH_OPERATION_MAC, op_mac,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_CRYPTOGRAPHIC_PARAMETERS, KH_TAG_DATA, STREAMING)},
    {KH_OPERATION_MAC_VERIFY, op_mac_verify,
     KH_TAGS(KH_TAG_UNIQUE_IDENTIFIER, KH_TAG_CRYPTOGRAPHIC_PARAMETERS, KH_TAG_DATA,
             KH_TAG_MAC_DATA, STREAMING)},
    {KH_OPERATION_RNG_RETRIEVE, op_rng_retrieve, KH_TAGS(KH_TAG_DATA_LENGTH)},
    {KH_OPERATION_HASH, op_hash, KH_TAGS(KH_TAG_CRYPTOGRAPHIC_PARAMETERS, KH_TAG_DATA, STREAMING)},
};

const size_t kh_kmip_crypto_ops_count = sizeof(kh_kmip_crypto_ops) / sizeof(kh_kmip_crypto_ops[0]);
