/*
 * certify.h - KMIP Certify: keyhold issues an X.509 certificate with a CA
 * key the caller holds in keyhold (op_certify.c).
 *
 * The subject is a PKCS#10 request (its key and subject name; its
 * signature must verify) and/or a PublicKey object of the caller's (with
 * both, they must hold the same key). Without a request the subject name
 * is CN=<the key's first Name>, or CN=<its uid> when it has none.
 *
 * The issuer comes from the request's attributes: a Link PrivateKeyLink
 * names the signing key (the caller's own, Active, with the Sign usage
 * bit) and a Link CertificateLink names the issuer's certificate (the
 * caller's own, X.509, holding that key's public half). Without a
 * CertificateLink the certificate is self-issued, which only the subject's
 * own private key may sign. Validity: from now to the Deactivation Date
 * attribute when one is given, else 365 days.
 *
 * The certificate is stored as a Register would store it (with the other
 * attributes; the PrivateKeyLink is not kept, the CertificateLink to the
 * issuer's certificate is), so it gets its PublicKeyLink / CertificateLink
 * pair with the certified public key (certlink.h).
 */
#ifndef KH_OPS_CERTIFY_H
#define KH_OPS_CERTIFY_H

#include "common/err.h"
#include "ops/ops.h"
#include "proto/ttlv.h"

#include <stddef.h>
#include <stdint.h>

#define KH_CERTIFY_DEFAULT_DAYS 365

typedef struct kh_certify_req {
    const char *pub_uid; /* the PublicKey to certify, or NULL */
    uint32_t req_type;   /* CertificateRequestType, 0 when no request */
    const uint8_t *req;  /* CertificateRequestValue */
    size_t req_len;
    const kh_ttlv *attrs; /* canonical Attributes, or NULL */
} kh_certify_req;

/* Issue and store the certificate; *uid (caller frees) names it. */
kh_err kh_op_certify(kh_ctx *ctx, const kh_certify_req *r, char **uid) KH_MUST_CHECK;

#endif
