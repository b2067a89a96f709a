/*
 * test_jwt.c - unit tests for src/proto/jwt.c, src/proto/jwks.c and
 * src/crypto/jose.c: JWKS parsing and JWT verification with keys made by
 * OpenSSL at test time.
 *
 * Tokens are built here with OpenSSL directly (and a base64url encoder of
 * this file's own), not with the code under test, so that both sides of
 * the format are not the same mistake. Key sets are parsed from JSON
 * strings, except for the cache's tests, which fetch from a one-thread
 * HTTP server on the loopback interface (tests/integration/test_11_jwt.py
 * covers HTTPS and whole requests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "proto/jwks.h"
#include "proto/jwt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NOW 1700000000LL
#define ISS "https://issuer.example"
#define AUD "keyhold-test"

static EVP_PKEY *rsa1, *rsa2, *ec1, *ec2, *rsa_small;
static char jwks_json[16384];
static const kh_jwt_policy policy = {ISS, AUD, 30};

/* ---- token building (independent of the code under test) ---------------- */

static void b64url(char *out, size_t cap, const uint8_t *in, size_t len)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        size_t chars = len - i >= 3 ? 4 : len - i + 1;
        for (size_t k = 0; k < chars; k++) {
            assert_true(o + 1 < cap);
            out[o++] = a[(v >> (18 - 6 * k)) & 63];
        }
    }
    out[o] = '\0';
}

static void b64url_bn(char *out, size_t cap, EVP_PKEY *pk, const char *name)
{
    BIGNUM *bn = NULL;
    uint8_t buf[1024];
    assert_int_equal(EVP_PKEY_get_bn_param(pk, name, &bn), 1);
    int n = BN_bn2bin(bn, buf);
    BN_free(bn);
    b64url(out, cap, buf, (size_t)n);
}

static EVP_PKEY *gen(const char *type, const char *arg, size_t bits)
{
    EVP_PKEY *pk =
        arg ? EVP_PKEY_Q_keygen(NULL, NULL, type, arg) : EVP_PKEY_Q_keygen(NULL, NULL, type, bits);
    assert_non_null(pk);
    return pk;
}

static void jwk_rsa(char *out, size_t cap, EVP_PKEY *pk, const char *kid, const char *extra)
{
    char n[1400], e[16];
    b64url_bn(n, sizeof(n), pk, OSSL_PKEY_PARAM_RSA_N);
    b64url_bn(e, sizeof(e), pk, OSSL_PKEY_PARAM_RSA_E);
    snprintf(out, cap, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}", kid, n, e,
             extra);
}

static void jwk_ec(char *out, size_t cap, EVP_PKEY *pk, const char *kid, const char *extra)
{
    uint8_t pt[65];
    size_t len = 0;
    char x[64], y[64];
    assert_int_equal(
        EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len), 1);
    assert_int_equal(len, 65);
    b64url(x, sizeof(x), pt + 1, 32);
    b64url(y, sizeof(y), pt + 33, 32);
    snprintf(out, cap,
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}", kid,
             x, y, extra);
}

/* Sign "<b64 header>.<b64 payload>" with pk (RSA: RS256, EC: ES256 raw
 * r||s), or with HMAC-SHA256 under hmac_key when pk is NULL and
 * hmac_key is given, or leave the signature empty. */
static char *make_token(const char *header, const char *payload, EVP_PKEY *pk,
                        const uint8_t *hmac_key, size_t hmac_len)
{
    enum { CAP = 32768 };
    char *t = calloc(1, CAP);
    uint8_t sig[1024];
    size_t sig_len = sizeof(sig), o;
    b64url(t, CAP, (const uint8_t *)header, strlen(header));
    o = strlen(t);
    t[o++] = '.';
    b64url(t + o, CAP - o, (const uint8_t *)payload, strlen(payload));
    o = strlen(t);
    if (pk) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk), 1);
        assert_int_equal(EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)t, o), 1);
        EVP_MD_CTX_free(md);
        if (EVP_PKEY_is_a(pk, "EC")) {
            const uint8_t *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
            assert_non_null(es);
            memset(sig, 0, 64);
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
            ECDSA_SIG_free(es);
            sig_len = 64;
        }
    } else if (hmac_key) {
        unsigned int n = 0;
        assert_non_null(
            HMAC(EVP_sha256(), hmac_key, (int)hmac_len, (const uint8_t *)t, o, sig, &n));
        sig_len = n;
    } else {
        sig_len = 0;
    }
    t[o++] = '.';
    b64url(t + o, CAP - o, sig, sig_len);
    return t;
}

static char *claims(char *out, size_t cap, const char *iss, const char *sub, long long exp_delta,
                    const char *more)
{
    snprintf(out, cap, "{\"iss\":\"%s\",\"sub\":\"%s\",\"exp\":%lld,\"aud\":\"%s\"%s}", iss, sub,
             NOW + exp_delta, AUD, more);
    return out;
}

/* Verify token against the test JWKS; *why when refused. */
static kh_err check(const char *token, const kh_jwt_policy *p, char *identity, kh_jwt_reason *why)
{
    kh_jwks *keys = NULL;
    kh_jwt *t = NULL;
    char id[512];
    *why = KH_JWT_OK;
    assert_int_equal(kh_jwks_parse((const uint8_t *)jwks_json, strlen(jwks_json), &keys), KH_OK);
    kh_err err = kh_jwt_parse(token, strlen(token), &t, why);
    if (err == KH_OK)
        err = kh_jwt_verify(t, keys, p, NOW, identity ? identity : id, 512, why);
    kh_jwt_free(&t);
    kh_jwks_release(&keys);
    return err;
}

static void expect_refused(const char *token, kh_jwt_reason want)
{
    kh_jwt_reason why;
    assert_int_equal(check(token, &policy, NULL, &why), KH_ERR_AUTH);
    assert_int_equal(why, want);
}

static int setup(void **state)
{
    (void)state;
    kh_log_set_level(KH_LOG_ERROR);
    rsa1 = gen("RSA", NULL, 2048);
    rsa2 = gen("RSA", NULL, 2048);
    rsa_small = gen("RSA", NULL, 1024);
    ec1 = gen("EC", "P-256", 0);
    ec2 = gen("EC", "P-256", 0);
    char k1[2048], k2[2048], k3[2048], k4[2048], k5[2048];
    jwk_rsa(k1, sizeof(k1), rsa1, "r1", ",\"use\":\"sig\",\"alg\":\"RS256\"");
    jwk_ec(k2, sizeof(k2), ec1, "e1", "");
    jwk_rsa(k3, sizeof(k3), rsa_small, "small", "");          /* too short: skipped */
    jwk_rsa(k4, sizeof(k4), rsa2, "enc", ",\"use\":\"enc\""); /* not for signing */
    jwk_rsa(k5, sizeof(k5), rsa2, "ps", ",\"alg\":\"PS256\"");
    snprintf(jwks_json, sizeof(jwks_json),
             "{\"keys\":[%s,%s,%s,%s,%s,{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\",\"x\":\"AAAA\"},42]}",
             k1, k2, k3, k4, k5);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    EVP_PKEY_free(rsa1);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(rsa_small);
    EVP_PKEY_free(ec1);
    EVP_PKEY_free(ec2);
    return 0;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_base64url(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t n = 0;
    assert_int_equal(kh_base64url_decode(out, sizeof(out), &n, "", 0), KH_OK);
    assert_int_equal(n, 0);
    assert_int_equal(kh_base64url_decode(out, sizeof(out), &n, "-_8", 3), KH_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(kh_base64url_decode(out, sizeof(out), &n, "Zm9vYg", 6), KH_OK);
    assert_memory_equal(out, "foob", 4);
    /* padding, standard alphabet, odd length, non-zero trailing bits, too long */
    assert_int_equal(kh_base64url_decode(out, sizeof(out), &n, "Zg==", 4), KH_ERR_DECODE);
    assert_int_equal(kh_base64url_decode(out, sizeof(out), &n, "+/8", 3), KH_ERR_DECODE);
    assert_int_equal(kh_base64url_decode(out, sizeof(out), &n, "Zm9vY", 5), KH_ERR_DECODE);
    assert_int_equal(kh_base64url_decode(out, sizeof(out), &n, "Zh", 2), KH_ERR_DECODE);
    assert_int_equal(kh_base64url_decode(out, 3, &n, "Zm9vYg", 6), KH_ERR_DECODE);
}

static void test_jwks_parse(void **state)
{
    (void)state;
    kh_jwks *keys = NULL;
    assert_int_equal(kh_jwks_parse((const uint8_t *)jwks_json, strlen(jwks_json), &keys), KH_OK);
    /* only r1 and e1 are usable */
    assert_int_equal(kh_jwks_count(keys), 2);
    assert_non_null(kh_jwks_find(keys, "r1", KH_JWS_RS256));
    assert_non_null(kh_jwks_find(keys, "e1", KH_JWS_ES256));
    assert_null(kh_jwks_find(keys, "r1", KH_JWS_ES256));
    assert_null(kh_jwks_find(keys, "e1", KH_JWS_RS256));
    assert_null(kh_jwks_find(keys, "small", KH_JWS_RS256));
    assert_null(kh_jwks_find(keys, "enc", KH_JWS_RS256));
    assert_null(kh_jwks_find(keys, "ps", KH_JWS_RS256));
    kh_jwks_release(&keys);
    assert_null(keys);

    static const char *bad[] = {
        "", "[]", "{}", "{\"keys\":{}}", "{\"keys\":[]", "null", "{\"keys\":[],\"keys\":[]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kh_jwks_parse((const uint8_t *)bad[i], strlen(bad[i]), &keys),
                         KH_ERR_DECODE);
    /* a point that is not on the curve, and a wrong-size coordinate */
    const char *off =
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"x\","
        "\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
        "\"y\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"},"
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"y\",\"x\":\"AQ\",\"y\":\"AQ\"}]}";
    assert_int_equal(kh_jwks_parse((const uint8_t *)off, strlen(off), &keys), KH_OK);
    assert_int_equal(kh_jwks_count(keys), 0);
    kh_jwks_release(&keys);
}

static void test_valid_rs256_es256(void **state)
{
    (void)state;
    char c[512], id[512];
    kh_jwt_reason why;
    char *t =
        make_token("{\"alg\":\"RS256\",\"kid\":\"r1\",\"typ\":\"JWT\"}",
                   claims(c, sizeof(c), ISS, "alice", 600, ",\"nbf\":1699999990"), rsa1, NULL, 0);
    assert_int_equal(check(t, &policy, id, &why), KH_OK);
    assert_string_equal(id, "jwt:" ISS "#alice");
    free(t);

    /* aud as an array */
    snprintf(c, sizeof(c), "{\"iss\":\"%s\",\"sub\":\"bob\",\"exp\":%lld,\"aud\":[\"x\",\"%s\"]}",
             ISS, NOW + 600, AUD);
    t = make_token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", c, ec1, NULL, 0);
    assert_int_equal(check(t, &policy, id, &why), KH_OK);
    assert_string_equal(id, "jwt:" ISS "#bob");
    free(t);

    /* no audience configured: aud is not checked */
    kh_jwt_policy no_aud = {ISS, NULL, 0};
    snprintf(c, sizeof(c), "{\"iss\":\"%s\",\"sub\":\"carol\",\"exp\":%lld.5}", ISS, NOW + 1);
    t = make_token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", c, ec1, NULL, 0);
    assert_int_equal(check(t, &no_aud, id, &why), KH_OK);
    assert_string_equal(id, "jwt:" ISS "#carol");
    free(t);
}

static void test_time_claims(void **state)
{
    (void)state;
    char c[512];
    const char *h = "{\"alg\":\"RS256\",\"kid\":\"r1\"}";
    char *t = make_token(h, claims(c, sizeof(c), ISS, "a", -31, ""), rsa1, NULL, 0);
    expect_refused(t, KH_JWT_EXPIRED); /* 31 s past, leeway 30 */
    free(t);
    t = make_token(h, claims(c, sizeof(c), ISS, "a", -29, ""), rsa1, NULL, 0);
    kh_jwt_reason why;
    assert_int_equal(check(t, &policy, NULL, &why), KH_OK); /* within the leeway */
    free(t);
    t = make_token(h, claims(c, sizeof(c), ISS, "a", 600, ",\"nbf\":1700000100"), rsa1, NULL, 0);
    expect_refused(t, KH_JWT_NOT_YET_VALID);
    free(t);
    t = make_token(h, claims(c, sizeof(c), ISS, "a", 600, ",\"nbf\":\"soon\""), rsa1, NULL, 0);
    expect_refused(t, KH_JWT_NOT_YET_VALID);
    free(t);
    snprintf(c, sizeof(c), "{\"iss\":\"%s\",\"sub\":\"a\",\"aud\":\"%s\"}", ISS, AUD);
    t = make_token(h, c, rsa1, NULL, 0); /* no exp */
    expect_refused(t, KH_JWT_EXPIRED);
    free(t);
    snprintf(c, sizeof(c), "{\"iss\":\"%s\",\"sub\":\"a\",\"aud\":\"%s\",\"exp\":\"%lld\"}", ISS,
             AUD, NOW + 600);
    t = make_token(h, c, rsa1, NULL, 0); /* exp as a string */
    expect_refused(t, KH_JWT_EXPIRED);
    free(t);
}

static void test_wrong_claims(void **state)
{
    (void)state;
    char c[512];
    const char *h = "{\"alg\":\"ES256\",\"kid\":\"e1\"}";
    char *t =
        make_token(h, claims(c, sizeof(c), "https://evil.example", "a", 600, ""), ec1, NULL, 0);
    expect_refused(t, KH_JWT_ISSUER);
    free(t);
    snprintf(c, sizeof(c), "{\"iss\":\"%s\",\"sub\":\"a\",\"exp\":%lld,\"aud\":[\"other\"]}", ISS,
             NOW + 600);
    t = make_token(h, c, ec1, NULL, 0);
    expect_refused(t, KH_JWT_AUDIENCE);
    free(t);
    snprintf(c, sizeof(c), "{\"iss\":\"%s\",\"sub\":\"a\",\"exp\":%lld}", ISS, NOW + 600);
    t = make_token(h, c, ec1, NULL, 0); /* no aud at all */
    expect_refused(t, KH_JWT_AUDIENCE);
    free(t);
    t = make_token(h, claims(c, sizeof(c), ISS, "", 600, ""), ec1, NULL, 0);
    expect_refused(t, KH_JWT_SUBJECT);
    free(t);
    t = make_token(h, claims(c, sizeof(c), ISS, "a\\nb", 600, ""), ec1, NULL, 0);
    expect_refused(t, KH_JWT_SUBJECT);
    free(t);
    snprintf(c, sizeof(c), "{\"iss\":\"%s\",\"exp\":%lld,\"aud\":\"%s\"}", ISS, NOW + 600, AUD);
    t = make_token(h, c, ec1, NULL, 0);
    expect_refused(t, KH_JWT_SUBJECT);
    free(t);
}

static void test_wrong_key(void **state)
{
    (void)state;
    char c[512];
    claims(c, sizeof(c), ISS, "a", 600, "");
    /* same kid, another key */
    char *t = make_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", c, rsa2, NULL, 0);
    expect_refused(t, KH_JWT_SIGNATURE);
    free(t);
    t = make_token("{\"alg\":\"ES256\",\"kid\":\"e1\"}", c, ec2, NULL, 0);
    expect_refused(t, KH_JWT_SIGNATURE);
    free(t);
    /* a kid the issuer does not publish, no kid, a kid of the other type */
    t = make_token("{\"alg\":\"RS256\",\"kid\":\"r9\"}", c, rsa1, NULL, 0);
    expect_refused(t, KH_JWT_UNKNOWN_KEY);
    free(t);
    t = make_token("{\"alg\":\"RS256\"}", c, rsa1, NULL, 0);
    expect_refused(t, KH_JWT_UNKNOWN_KEY);
    free(t);
    t = make_token("{\"alg\":\"RS256\",\"kid\":\"e1\"}", c, rsa1, NULL, 0);
    expect_refused(t, KH_JWT_UNKNOWN_KEY);
    free(t);
    t = make_token("{\"alg\":\"ES256\",\"kid\":\"r1\"}", c, ec1, NULL, 0);
    expect_refused(t, KH_JWT_UNKNOWN_KEY);
    free(t);
    /* a payload changed after signing */
    t = make_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", c, rsa1, NULL, 0);
    char *dot = strchr(t, '.');
    dot[2] = dot[2] == 'A' ? 'B' : 'A';
    kh_jwt_reason why;
    assert_int_equal(check(t, &policy, NULL, &why), KH_ERR_AUTH);
    free(t);
}

static void test_algorithm_confusion(void **state)
{
    (void)state;
    char c[512];
    claims(c, sizeof(c), ISS, "a", 600, "");
    /* alg none, signed or not */
    char *t = make_token("{\"alg\":\"none\",\"kid\":\"r1\"}", c, NULL, NULL, 0);
    expect_refused(t, KH_JWT_MALFORMED); /* empty signature part */
    free(t);
    t = make_token("{\"alg\":\"none\",\"kid\":\"r1\"}", c, NULL, (const uint8_t *)"x", 1);
    expect_refused(t, KH_JWT_ALGORITHM);
    free(t);
    /* HS256 with the RSA public key (PEM, as a confused verifier would use) as the secret */
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, rsa1), 1);
    char *pem = NULL;
    long pem_len = BIO_get_mem_data(b, &pem);
    t = make_token("{\"alg\":\"HS256\",\"kid\":\"r1\"}", c, NULL, (const uint8_t *)pem,
                   (size_t)pem_len);
    expect_refused(t, KH_JWT_ALGORITHM);
    free(t);
    BIO_free(b);
    /* other algorithms and spellings, crit */
    static const char *hdr[] = {"{\"alg\":\"PS256\",\"kid\":\"r1\"}",
                                "{\"alg\":\"rs256\",\"kid\":\"r1\"}",
                                "{\"alg\":\"RS512\",\"kid\":\"r1\"}",
                                "{\"alg\":[\"RS256\"],\"kid\":\"r1\"}",
                                "{\"kid\":\"r1\"}",
                                "{\"alg\":\"RS256\",\"kid\":\"r1\",\"crit\":[\"exp\"]}"};
    for (size_t i = 0; i < sizeof(hdr) / sizeof(hdr[0]); i++) {
        t = make_token(hdr[i], c, rsa1, NULL, 0);
        expect_refused(t, KH_JWT_ALGORITHM);
        free(t);
    }
    /* a key in the header is never used */
    t = make_token("{\"alg\":\"RS256\",\"kid\":\"zz\",\"jku\":\"https://evil.example/jwks\"}", c,
                   rsa1, NULL, 0);
    expect_refused(t, KH_JWT_UNKNOWN_KEY);
    free(t);
}

static void test_malformed(void **state)
{
    (void)state;
    char c[512];
    claims(c, sizeof(c), ISS, "a", 600, "");
    char *good = make_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", c, rsa1, NULL, 0);
    static const char *bad[] = {"",
                                ".",
                                "..",
                                "a.b",
                                "a.b.c.d",
                                "!!!.e30.AAAA",
                                "e30.e30.AAAA",                          /* {} header: no alg */
                                "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.AAAA", /* payload not JSON */
                                "eyJhbGciOiJSUzI1NiJ9.WzFd.AAAA",        /* payload an array */
                                "eyJhbGciOiJSUzI1NiJ9.e30.AAA=",         /* padded signature */
                                "eyJhbGciOiJSUzI1NiJ9..AAAA"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kh_jwt_reason why;
        assert_int_equal(check(bad[i], &policy, NULL, &why), KH_ERR_AUTH);
        assert_true(why == KH_JWT_MALFORMED || why == KH_JWT_ALGORITHM);
    }
    /* a good token with a character changed in the header's base64 */
    good[3] = '*';
    expect_refused(good, KH_JWT_MALFORMED);
    free(good);
    /* duplicate claims are ambiguous: refused */
    snprintf(c, sizeof(c), "{\"iss\":\"%s\",\"sub\":\"a\",\"sub\":\"b\",\"exp\":%lld}", ISS,
             NOW + 600);
    char *t = make_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", c, rsa1, NULL, 0);
    expect_refused(t, KH_JWT_MALFORMED);
    free(t);
}

static void test_oversized(void **state)
{
    (void)state;
    /* a payload over the limit, though correctly signed */
    char *big = malloc(KH_JWT_PAYLOAD_MAX + 200);
    int n =
        snprintf(big, 200, "{\"iss\":\"%s\",\"sub\":\"a\",\"exp\":%lld,\"x\":\"", ISS, NOW + 600);
    memset(big + n, 'x', KH_JWT_PAYLOAD_MAX);
    memcpy(big + n + KH_JWT_PAYLOAD_MAX, "\"}", 3);
    char *t = make_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", big, rsa1, NULL, 0);
    expect_refused(t, KH_JWT_MALFORMED);
    free(t);
    free(big);
    /* a whole token over KH_JWT_MAX */
    char *huge = malloc(KH_JWT_MAX + 16);
    memset(huge, 'A', KH_JWT_MAX + 15);
    huge[10] = '.';
    huge[20] = '.';
    huge[KH_JWT_MAX + 15] = '\0';
    expect_refused(huge, KH_JWT_MALFORMED);
    free(huge);
    /* a sub that makes the identity too long */
    char c[1024], sub[300];
    memset(sub, 's', 256);
    sub[256] = '\0';
    t = make_token("{\"alg\":\"RS256\",\"kid\":\"r1\"}", claims(c, sizeof(c), ISS, sub, 600, ""),
                   rsa1, NULL, 0);
    expect_refused(t, KH_JWT_SUBJECT);
    free(t);
    /* a JWKS over its limit */
    kh_jwks *keys = NULL;
    assert_int_equal(kh_jwks_parse((const uint8_t *)"{}", KH_JWKS_MAX_BYTES + 1, &keys),
                     KH_ERR_TOO_LARGE);
}

/* ---- the cache, against a loopback HTTP server --------------------------------- */

typedef struct jwks_server {
    int fd, port;
    int fetches; /* requests answered; read after the cache call returns */
    pthread_t thread;
    volatile int stop;
} jwks_server;

static void *serve_jwks(void *arg)
{
    jwks_server *s = arg;
    while (!s->stop) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        char req[4096];
        size_t got = 0;
        while (got < sizeof(req) - 1) {
            ssize_t n = read(c, req + got, sizeof(req) - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        char hdr[128];
        int hl = snprintf(hdr, sizeof(hdr),
                          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          strlen(jwks_json));
        __atomic_add_fetch(&s->fetches, 1, __ATOMIC_SEQ_CST);
        if (write(c, hdr, (size_t)hl) != hl ||
            write(c, jwks_json, strlen(jwks_json)) != (ssize_t)strlen(jwks_json))
            fprintf(stderr, "jwks server: short write\n");
        close(c);
    }
    return NULL;
}

static void server_start(jwks_server *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 8), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve_jwks, s), 0);
}

static void server_stop(jwks_server *s)
{
    s->stop = 1;
    shutdown(s->fd, SHUT_RDWR);
    /* wake accept() with one last connection */
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)s->port)};
    int c = socket(AF_INET, SOCK_STREAM, 0);
    (void)connect(c, (struct sockaddr *)&a, sizeof(a));
    close(c);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

static int fetches(jwks_server *s)
{
    return __atomic_load_n(&s->fetches, __ATOMIC_SEQ_CST);
}

static kh_jwks_cache *cache_for(const jwks_server *s, bool allow_http, unsigned refresh_s,
                                unsigned min_refetch_s)
{
    char url[64];
    kh_jwks_cache *c = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks.json", s->port);
    kh_jwks_cache_config cfg = {url, NULL, allow_http, refresh_s, min_refetch_s, 5};
    assert_int_equal(kh_jwks_cache_new(&cfg, &c), KH_OK);
    return c;
}

static void get_keys(kh_jwks_cache *c, const char *kid, kh_jws_alg alg, kh_err want, size_t n)
{
    kh_jwks *keys = NULL;
    assert_int_equal(kh_jwks_cache_get(c, kid, alg, &keys), want);
    assert_int_equal(kh_jwks_count(keys), n);
    kh_jwks_release(&keys);
}

static void test_cache_refetch_rules(void **state)
{
    (void)state;
    jwks_server s;
    server_start(&s);
    /* rate-limited: one fetch, then an unknown kid does not fetch again */
    kh_jwks_cache *c = cache_for(&s, true, 3600, 3600);
    get_keys(c, "r1", KH_JWS_RS256, KH_OK, 2);
    assert_int_equal(fetches(&s), 1);
    get_keys(c, "r1", KH_JWS_RS256, KH_OK, 2);
    get_keys(c, "rotated", KH_JWS_RS256, KH_OK, 2);
    get_keys(c, "e1", KH_JWS_RS256, KH_OK, 2); /* known kid, other type: unknown */
    assert_int_equal(fetches(&s), 1);
    kh_jwks_cache_free(&c);
    assert_null(c);

    /* no rate limit: a known kid never fetches, an unknown one always does */
    c = cache_for(&s, true, 3600, 0);
    get_keys(c, NULL, KH_JWS_NONE, KH_OK, 2);
    get_keys(c, "e1", KH_JWS_ES256, KH_OK, 2);
    assert_int_equal(fetches(&s), 2);
    get_keys(c, "rotated", KH_JWS_ES256, KH_OK, 2);
    get_keys(c, "rotated", KH_JWS_ES256, KH_OK, 2);
    assert_int_equal(fetches(&s), 4);
    kh_jwks_cache_free(&c);

    /* plain http:// refused by curl itself unless allowed: no keys, no request */
    c = cache_for(&s, false, 3600, 0);
    get_keys(c, "r1", KH_JWS_RS256, KH_ERR_IO, 0);
    assert_int_equal(fetches(&s), 4);
    kh_jwks_cache_free(&c);
    server_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url),           cmocka_unit_test(test_jwks_parse),
        cmocka_unit_test(test_valid_rs256_es256),   cmocka_unit_test(test_time_claims),
        cmocka_unit_test(test_wrong_claims),        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_algorithm_confusion), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_oversized),           cmocka_unit_test(test_cache_refetch_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
