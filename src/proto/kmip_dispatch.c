/*
 * kmip_dispatch.c - find an operation in the families' tables, check its
 * payload's shape, run it.
 */
#include "proto/kmip_dispatch.h"

#include "common/mem.h"
#include "proto/kmip_consts.h"

#include <stdlib.h>

#include "proto/kmip_crypto.h"
#include "proto/kmip_keyops.h"

struct family {
    const kh_kmip_op *ops;
    const size_t *count;
};

static const struct family families[] = {
    {kh_kmip_core_ops, &kh_kmip_core_ops_count},
    {kh_kmip_crypto_ops, &kh_kmip_crypto_ops_count},
    {kh_kmip_keyops_ops, &kh_kmip_keyops_ops_count},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

/* The protocol version that introduced an operation, for those we serve
 * that KMIP 1.0 did not have. DiscoverVersions (1.1) is left out on
 * purpose: clients ask it in the oldest version they speak. An older
 * request gets OperationNotSupported, and Query does not list it. */
static const struct {
    uint32_t op;
    kh_kmip_version since;
} introduced[] = {
    {KH_OPERATION_REKEY_KEY_PAIR, {1, 1}},   {KH_OPERATION_ENCRYPT, {1, 2}},
    {KH_OPERATION_DECRYPT, {1, 2}},          {KH_OPERATION_SIGN, {1, 2}},
    {KH_OPERATION_SIGNATURE_VERIFY, {1, 2}}, {KH_OPERATION_MAC, {1, 2}},
    {KH_OPERATION_MAC_VERIFY, {1, 2}},       {KH_OPERATION_RNG_RETRIEVE, {1, 2}},
    {KH_OPERATION_RNG_SEED, {1, 2}},         {KH_OPERATION_HASH, {1, 2}},
    {KH_OPERATION_CREATE_SPLIT_KEY, {1, 2}}, {KH_OPERATION_JOIN_SPLIT_KEY, {1, 2}},
    {KH_OPERATION_IMPORT, {1, 4}},           {KH_OPERATION_EXPORT, {1, 4}},
};

static bool defined_in(uint32_t operation, kh_kmip_version v)
{
    for (size_t i = 0; i < sizeof(introduced) / sizeof(introduced[0]); i++) {
        if (introduced[i].op != operation)
            continue;
        kh_kmip_version s = introduced[i].since;
        return v.major > s.major || (v.major == s.major && v.minor >= s.minor);
    }
    return true;
}

kh_err kh_kmip_dispatch(kh_kmip_call *c, uint32_t operation, const kh_ttlv *payload, kh_ttlv *resp)
{
    for (size_t f = 0; f < NFAMILIES; f++) {
        for (size_t i = 0; i < *families[f].count; i++) {
            const kh_kmip_op *op = &families[f].ops[i];
            if (op->op != operation)
                continue;
            if (!defined_in(operation, c->version))
                return KH_ERR_UNSUPPORTED_OP;
            kh_err err = kh_kmip_check_tags(c, payload, op->tags, op->ntags);
            return err == KH_OK ? op->fn(c, payload, resp) : err;
        }
    }
    return KH_ERR_UNSUPPORTED_OP;
}

size_t kh_kmip_operations(kh_kmip_version v, uint32_t *out, size_t max)
{
    size_t n = 0;
    for (size_t f = 0; f < NFAMILIES; f++)
        for (size_t i = 0; i < *families[f].count && n < max; i++)
            if (defined_in(families[f].ops[i].op, v))
                out[n++] = families[f].ops[i].op;
    return n;
}

kh_err kh_kmip_uid_in(kh_kmip_call *c, const kh_ttlv *p, uint32_t tag, const char **uid)
{
    const kh_ttlv *u = kh_ttlv_find(p, tag);
    if (!u || u->type == KH_TTLV_ENUMERATION) { /* 2.x may name the placeholder */
        if (!c->id_placeholder) {
            c->result_message = "no Unique Identifier and no ID placeholder";
            return KH_ERR_MISSING_DATA;
        }
        *uid = c->id_placeholder;
        return KH_OK;
    }
    if (u->type != KH_TTLV_TEXT_STRING)
        return KH_ERR_INVALID_FIELD;
    *uid = (const char *)u->data;
    return KH_OK;
}

void kh_kmip_uid_out(kh_kmip_call *c, kh_ttlv *resp, uint32_t tag, const char *uid,
                     bool placeholder)
{
    char *copy = kh_xstrdup(uid); /* uid may point into the old placeholder */
    kh_ttlv_add_take(resp, kh_ttlv_new_text(tag, copy));
    if (!placeholder) {
        free(copy);
        return;
    }
    free(c->id_placeholder);
    c->id_placeholder = copy;
}
