/*
 * certlink.h - tying a Certificate to the PublicKey it certifies, both
 * ways, when either is registered (op_certlink.c).
 *
 * The rule: a Link the client gives (PublicKeyLink on a certificate,
 * CertificateLink on a public key) must name an object of the caller's,
 * of the right type, holding the same public key, or Register fails
 * (ItemNotFound / InvalidField). Without one, keyhold looks among the
 * caller's newest KH_CERTLINK_CANDIDATES objects of the other type for the
 * newest one holding the same public key. Either way the new object gets
 * the link and its peer gets the reverse one. Only the caller's own objects
 * are considered: a grant never makes someone else's key linkable.
 */
#ifndef KH_OPS_CERTLINK_H
#define KH_OPS_CERTLINK_H

#include "common/err.h"
#include "ops/object.h"
#include "proto/ttlv.h"

#define KH_CERTLINK_CANDIDATES 64

typedef struct kh_certlink {
    char **peers; /* objects to give the reverse link, malloc'd */
    size_t n;
} kh_certlink;

/* Before o (a new Certificate or PublicKey whose managed object is obj and
 * whose client attributes are applied) is inserted: check its client
 * links or find its peer, and add the link to o. A Certificate of type
 * X.509 that does not parse is KH_ERR_INVALID_FIELD. */
kh_err kh_certlink_prepare(kh_ctx *ctx, kh_object *o, const kh_ttlv *obj,
                           kh_certlink *cl) KH_MUST_CHECK;
/* After o is inserted: give each peer its link back to o. A peer that
 * cannot be updated is logged, not fatal: o exists already. */
void kh_certlink_finish(kh_ctx *ctx, const kh_object *o, const kh_certlink *cl);
void kh_certlink_clear(kh_certlink *cl);

#endif
