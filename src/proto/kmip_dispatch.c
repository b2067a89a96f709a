/*
 * kmip_dispatch.c - find an operation in the families' tables, check its
 * payload's shape, run it.
 */
#include "proto/kmip_dispatch.h"

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

kh_err kh_kmip_dispatch(kh_kmip_call *c, uint32_t operation, const kh_ttlv *payload, kh_ttlv *resp)
{
    for (size_t f = 0; f < NFAMILIES; f++) {
        for (size_t i = 0; i < *families[f].count; i++) {
            const kh_kmip_op *op = &families[f].ops[i];
            if (op->op != operation)
                continue;
            kh_err err = kh_kmip_check_tags(c, payload, op->tags, op->ntags);
            return err == KH_OK ? op->fn(c, payload, resp) : err;
        }
    }
    return KH_ERR_UNSUPPORTED_OP;
}

size_t kh_kmip_operations(uint32_t *out, size_t max)
{
    size_t n = 0;
    for (size_t f = 0; f < NFAMILIES; f++)
        for (size_t i = 0; i < *families[f].count && n < max; i++)
            out[n++] = families[f].ops[i].op;
    return n;
}
