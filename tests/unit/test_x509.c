/*
 * test_x509.c - unit tests for src/crypto/x509.c: issuing certificates,
 * reading them back, PKCS#10 requests, and refusing malformed input.
 * (Signatures are checked independently, with Python's cryptography, in
 * tests/integration/test_14_certify.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "crypto/pkey.h"
#include "crypto/x509.h"

#include <stdlib.h>
#include <string.h>

/* openssl req -new -newkey ec (P-256) -subj "/O=keyhold tests/CN=unit.example" */
static const char csr_pem[] = "-----BEGIN CERTIFICATE REQUEST-----\n"
                              "MIHqMIGRAgEAMC8xFjAUBgNVBAoMDWtleWhvbGQgdGVzdHMxFTATBgNVBAMMDHVu\n"
                              "aXQuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABK6jSRhZ93i/IKV+\n"
                              "LsNcQ6dPJRNXu50zDCFhY1l3KJATUp1/H+2mnugbEvRb7wsI3xYavoMjqaZT6Kdd\n"
                              "Ehxaw/6gADAKBggqhkjOPQQDAgNIADBFAiEAks97qm6H3UnI6+laq9+X0wyNF/uK\n"
                              "iDD40I7NtF/egyoCIARKdOjXivAwxbi16GXTtixjRqFsY4SGYkYfecTlRHB7\n"
                              "-----END CERTIFICATE REQUEST-----\n";

static kh_pkey *gen(kh_pkey_type t)
{
    kh_pkey *k = NULL;
    assert_int_equal(kh_pkey_generate(&k, t, 2048), KH_OK);
    return k;
}

static void issue(const kh_pkey *subject, const kh_pkey *issuer_key, const uint8_t *issuer_cert,
                  size_t issuer_len, uint8_t **der, size_t *len)
{
    kh_x509_issue_params p = {subject,    NULL,       0,          "unit",    issuer_cert,
                              issuer_len, issuer_key, 1700000000, 1800000000};
    assert_int_equal(kh_x509_issue(der, len, &p), KH_OK);
    assert_true(*len > 100);
    assert_int_equal((*der)[0], 0x30);
}

static void test_issue_and_read_back(void **state)
{
    (void)state;
    kh_pkey *ca = gen(KH_PKEY_EC_P256), *ee = gen(KH_PKEY_RSA), *other = gen(KH_PKEY_ED25519);
    uint8_t *ca_der = NULL, *ee_der = NULL;
    size_t ca_len = 0, ee_len = 0;
    issue(ca, ca, NULL, 0, &ca_der, &ca_len); /* self-issued */
    issue(ee, ca, ca_der, ca_len, &ee_der, &ee_len);

    kh_pkey *got = NULL;
    assert_int_equal(kh_x509_public_key(&got, ca_der, ca_len), KH_OK);
    assert_true(kh_pkey_public_equal(got, ca));
    assert_false(kh_pkey_public_equal(got, ee));
    assert_false(kh_pkey_has_private(got));
    kh_pkey_free(&got);
    assert_int_equal(kh_x509_public_key(&got, ee_der, ee_len), KH_OK);
    assert_true(kh_pkey_public_equal(got, ee));
    assert_int_equal(kh_pkey_type_of(got), KH_PKEY_RSA);
    kh_pkey_free(&got);

    /* Ed25519 signs without a digest */
    uint8_t *ed_der = NULL;
    size_t ed_len = 0;
    issue(ee, other, NULL, 0, &ed_der, &ed_len);
    free(ed_der);

    /* two issues of one certificate differ: a fresh serial each time */
    uint8_t *again = NULL;
    size_t again_len = 0;
    issue(ee, ca, ca_der, ca_len, &again, &again_len);
    assert_false(again_len == ee_len && memcmp(again, ee_der, ee_len) == 0);
    free(again);
    free(ca_der);
    free(ee_der);
    kh_pkey_free(&ca);
    kh_pkey_free(&ee);
    kh_pkey_free(&other);
}

static void test_malformed_certificates(void **state)
{
    (void)state;
    kh_pkey *k = gen(KH_PKEY_EC_P256);
    uint8_t *der = NULL;
    size_t len = 0;
    issue(k, k, NULL, 0, &der, &len);
    kh_pkey *got = NULL;
    assert_int_equal(kh_x509_public_key(&got, der, len - 1), KH_ERR_CRYPTO);
    assert_int_equal(kh_x509_public_key(&got, der, 0), KH_ERR_CRYPTO);
    assert_int_equal(kh_x509_public_key(&got, NULL, 10), KH_ERR_CRYPTO);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    assert_int_equal(kh_x509_public_key(&got, longer, len + 1), KH_ERR_CRYPTO);
    assert_null(got);
    /* a garbage issuer certificate is refused, not signed over */
    uint8_t *out = NULL;
    size_t out_len = 0;
    kh_x509_issue_params p = {k, NULL, 0, "x", (const uint8_t *)"junk", 4, k, 0, 1};
    assert_int_equal(kh_x509_issue(&out, &out_len, &p), KH_ERR_CRYPTO);
    assert_null(out);
    free(longer);
    free(der);
    kh_pkey_free(&k);
}

static void test_issue_needs_a_private_signer_and_a_subject(void **state)
{
    (void)state;
    kh_pkey *k = gen(KH_PKEY_EC_P256), *pub = NULL;
    uint8_t *der = NULL, *spki = NULL;
    size_t len = 0, spki_len = 0;
    assert_int_equal(kh_pkey_export_public(&spki, &spki_len, k, KH_PKEY_SPKI), KH_OK);
    assert_int_equal(kh_pkey_import(&pub, false, KH_PKEY_SPKI, spki, spki_len), KH_OK);
    kh_x509_issue_params p = {k, NULL, 0, NULL, NULL, 0, k, 0, 1};
    assert_int_equal(kh_x509_issue(&der, &len, &p), KH_ERR_INVALID_ARG); /* no subject */
    p.subject_cn = "x";
    p.issuer_key = pub;
    assert_int_equal(kh_x509_issue(&der, &len, &p), KH_ERR_INVALID_ARG); /* cannot sign */
    assert_null(der);
    free(spki);
    kh_pkey_free(&pub);
    kh_pkey_free(&k);
}

static void test_csr(void **state)
{
    (void)state;
    kh_pkey *key = NULL;
    uint8_t *subject = NULL;
    size_t subject_len = 0;
    assert_int_equal(kh_x509_csr_read(&key, &subject, &subject_len, (const uint8_t *)csr_pem,
                                      strlen(csr_pem), true),
                     KH_OK);
    assert_int_equal(kh_pkey_type_of(key), KH_PKEY_EC_P256);
    assert_true(subject_len > 20 && subject[0] == 0x30);
    assert_non_null(memmem(subject, subject_len, "unit.example", 12));
    /* the request's subject and key make a certificate */
    kh_pkey *ca = gen(KH_PKEY_EC_P384);
    uint8_t *der = NULL;
    size_t len = 0;
    kh_x509_issue_params p = {key, subject, subject_len, NULL, NULL, 0, ca, 0, 86400};
    assert_int_equal(kh_x509_issue(&der, &len, &p), KH_OK);
    assert_non_null(memmem(der, len, "unit.example", 12));
    kh_pkey *got = NULL;
    assert_int_equal(kh_x509_public_key(&got, der, len), KH_OK);
    assert_true(kh_pkey_public_equal(got, key));
    kh_pkey_free(&got);
    free(der);
    kh_pkey_free(&ca);
    free(subject);
    kh_pkey_free(&key);
    subject = NULL;

    /* "it.example" -> "iq.example": still DER, no longer what was signed */
    char *bad = strdup(csr_pem);
    char *at = strstr(bad, "aXQu");
    assert_non_null(at);
    at[2] = 'E';
    assert_int_equal(
        kh_x509_csr_read(&key, &subject, &subject_len, (const uint8_t *)bad, strlen(bad), true),
        KH_ERR_CRYPTO);
    /* PEM bytes read as DER, and nothing at all */
    assert_int_equal(kh_x509_csr_read(&key, &subject, &subject_len, (const uint8_t *)csr_pem,
                                      strlen(csr_pem), false),
                     KH_ERR_CRYPTO);
    assert_int_equal(kh_x509_csr_read(&key, &subject, &subject_len, (const uint8_t *)"", 0, true),
                     KH_ERR_CRYPTO);
    assert_null(key);
    assert_null(subject);
    free(bad);
}

int main(void)
{
    if (!getenv("KH_TEST_LOG"))
        kh_log_set_level((kh_log_level)(KH_LOG_ERROR + 1));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issue_and_read_back),
        cmocka_unit_test(test_malformed_certificates),
        cmocka_unit_test(test_issue_needs_a_private_signer_and_a_subject),
        cmocka_unit_test(test_csr),
    };
    return cmocka_run_group_tests_name("x509", tests, NULL, NULL);
}
