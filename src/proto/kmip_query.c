/*
 * kmip_query.c - Query and DiscoverVersions.
 */
#include "proto/kmip_query.h"

#include "proto/kmip_consts.h"
#include "proto/kmip_dispatch.h"

static void server_information(const kh_kmip_call *c, kh_ttlv *resp)
{
    kh_ttlv_add_take(resp, kh_ttlv_new_text(KH_TAG_VENDOR_IDENTIFICATION, "keyhold " KH_VERSION));
    if (!kh_kmip_is_v2(c))
        return; /* 1.x ServerInformation is vendor-defined: we add nothing */
    kh_ttlv *si = kh_ttlv_add_take(resp, kh_ttlv_new_struct(KH_TAG_SERVER_INFORMATION));
    kh_ttlv_add_take(si, kh_ttlv_new_text(KH_TAG_SERVER_NAME, c->ctx->svc->server_name
                                                                  ? c->ctx->svc->server_name
                                                                  : "keyhold"));
    kh_ttlv_add_take(si, kh_ttlv_new_text(KH_TAG_SERVER_VERSION, KH_VERSION));
}

kh_err kh_kmip_op_query(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    bool ops = false, objs = false, info = false;
    for (size_t i = 0; i < p->nkids; i++) {
        const kh_ttlv *f = p->kids[i];
        if (f->tag != KH_TAG_QUERY_FUNCTION)
            continue;
        if (f->type != KH_TTLV_ENUMERATION)
            return KH_ERR_INVALID_FIELD;
        ops |= f->num == KH_QUERY_FUNCTION_QUERY_OPERATIONS;
        objs |= f->num == KH_QUERY_FUNCTION_QUERY_OBJECTS;
        info |= f->num == KH_QUERY_FUNCTION_QUERY_SERVER_INFORMATION;
    }
    /* Functions we do not answer are simply left out, as the spec allows. */
    uint32_t opv[256];
    size_t nops = ops ? kh_kmip_operations(c->version, opv, 256) : 0;
    for (size_t i = 0; i < nops; i++)
        kh_ttlv_add_take(resp, kh_ttlv_new_enum(KH_TAG_OPERATION, opv[i]));
    for (size_t i = 0; objs && i < kh_object_types_supported_count; i++)
        kh_ttlv_add_take(resp, kh_ttlv_new_enum(KH_TAG_OBJECT_TYPE, kh_object_types_supported[i]));
    if (info)
        server_information(c, resp);
    return KH_OK;
}

kh_err kh_kmip_op_discover_versions(kh_kmip_call *c, const kh_ttlv *p, kh_ttlv *resp)
{
    (void)c;
    size_t asked = kh_ttlv_count(p, KH_TAG_PROTOCOL_VERSION);
    if (asked == 0) {
        for (size_t i = 0; i < kh_kmip_versions_count; i++)
            kh_ttlv_add_take(resp, kh_kmip_version_item(kh_kmip_versions[i]));
        return KH_OK;
    }
    /* Those of the client's versions that we speak, in the client's order. */
    for (size_t i = 0; i < p->nkids; i++) {
        const kh_ttlv *pv = p->kids[i];
        if (pv->tag != KH_TAG_PROTOCOL_VERSION)
            continue;
        kh_kmip_version v;
        if (kh_kmip_version_parse(pv, &v) != KH_OK)
            return KH_ERR_INVALID_FIELD;
        if (kh_kmip_version_supported(v))
            kh_ttlv_add_take(resp, kh_kmip_version_item(v));
    }
    return KH_OK;
}
