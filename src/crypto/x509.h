/*
 * x509.h - X.509 for what keyhold does with certificates: tie one to the
 * public key it certifies, read a PKCS#10 request, and issue a certificate
 * (KMIP Certify). No path validation here: keyhold stores and issues
 * certificates, it does not decide whom to trust.
 */
#ifndef KH_CRYPTO_X509_H
#define KH_CRYPTO_X509_H

#include "common/err.h"
#include "crypto/pkey.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The subject public key of the DER certificate der[0..len) (which must be
 * exactly one certificate). Malformed input is KH_ERR_CRYPTO, a key type
 * keyhold does not use KH_ERR_UNSUPPORTED. Caller frees *out. */
kh_err kh_x509_public_key(kh_pkey **out, const uint8_t *der, size_t len) KH_MUST_CHECK;

/* True when a and b hold the same public key (their private halves, if
 * any, are not looked at). */
bool kh_pkey_public_equal(const kh_pkey *a, const kh_pkey *b);

/* A PKCS#10 certificate request, DER or (pem) PEM; its self-signature
 * must verify. Gives its public key and its subject as a DER-encoded X.509
 * Name (*subject malloc'd, caller frees). Malformed or badly signed input
 * is KH_ERR_CRYPTO, a key type keyhold does not use KH_ERR_UNSUPPORTED. */
kh_err kh_x509_csr_read(kh_pkey **key, uint8_t **subject, size_t *subject_len, const uint8_t *req,
                        size_t len, bool pem) KH_MUST_CHECK;

/* What kh_x509_issue puts in a certificate. */
typedef struct kh_x509_issue_params {
    const kh_pkey *subject_key; /* the key certified (only its public half is used) */
    const uint8_t *subject;     /* DER X.509 Name, or NULL for CN=subject_cn */
    size_t subject_len;
    const char *subject_cn;
    /* The issuer's certificate (DER), whose subject becomes the issuer
     * name; NULL: self-issued, the issuer name is the subject's. */
    const uint8_t *issuer_cert;
    size_t issuer_cert_len;
    const kh_pkey *issuer_key; /* private key that signs */
    int64_t not_before;        /* unix seconds */
    int64_t not_after;
} kh_x509_issue_params;

/* An X.509 v3 end-entity certificate: random 127-bit serial number,
 * BasicConstraints CA:FALSE (critical), SubjectKeyIdentifier,
 * AuthorityKeyIdentifier; signed SHA-256 (RSA PKCS#1 v1.5, ECDSA) or
 * Ed25519. *der is malloc'd, caller frees. */
kh_err kh_x509_issue(uint8_t **der, size_t *len, const kh_x509_issue_params *p) KH_MUST_CHECK;

#endif
