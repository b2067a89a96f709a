/*
 * test_crypto_ops.c - the crypto/ wrappers for clients' keys (cipher,
 * sign, mac, hash, pkey) with known-answer vectors where they are cheap,
 * and the operations of ops/crypto_ops.h against a real SQLite file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/mem.h"
#include "crypto/cipher.h"
#include "crypto/hash.h"
#include "crypto/mac.h"
#include "crypto/pkey.h"
#include "crypto/sign.h"
#include "fixture.h"
#include "ops/crypto_ops.h"
#include "proto/kmip_consts.h"

/* Hex to bytes; out must hold strlen(hex) / 2. */
static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* ---- known answers ------------------------------------------------------- */

static void test_hmac_rfc4231_case1(void **state)
{
    (void)state;
    uint8_t k[20], want[32], mac[KH_MAC_MAX_LEN];
    size_t n = 0;
    memset(k, 0x0b, sizeof(k));
    unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", want);
    kh_secbuf *key = kh_secbuf_dup(k, sizeof(k));
    assert_int_equal(
        kh_mac(mac, &n, KH_MAC_HMAC, KH_HASH_SHA256, key, (const uint8_t *)"Hi There", 8), KH_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(mac, want, 32);
    bool valid = false;
    assert_int_equal(kh_mac_verify(&valid, KH_MAC_HMAC, KH_HASH_SHA256, key,
                                   (const uint8_t *)"Hi There", 8, want, 32),
                     KH_OK);
    assert_true(valid);
    assert_int_equal(kh_mac_verify(&valid, KH_MAC_HMAC, KH_HASH_SHA256, key,
                                   (const uint8_t *)"Hi There", 8, want, 31),
                     KH_OK);
    assert_false(valid); /* truncated */
    want[0] ^= 1;
    assert_int_equal(kh_mac_verify(&valid, KH_MAC_HMAC, KH_HASH_SHA256, key,
                                   (const uint8_t *)"Hi There", 8, want, 32),
                     KH_OK);
    assert_false(valid);
    kh_secbuf_free(&key);
}

/* NIST GCM specification, test case 4 (AES-128, 60-byte plaintext, AAD). */
static void test_aes_gcm_nist_case4(void **state)
{
    (void)state;
    uint8_t k[16], iv[12], aad[20], pt[60], ct[60], tag[16];
    unhex("feffe9928665731c6d6a8f9467308308", k);
    unhex("cafebabefacedbaddecaf888", iv);
    unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad);
    unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
          pt);
    unhex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
          "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
          ct);
    unhex("5bc94fbc3221a5db94fae95ae7121a47", tag);
    kh_secbuf *key = kh_secbuf_dup(k, sizeof(k));
    kh_cipher_params p = {KH_CIPHER_AES_GCM, false, iv, 12, aad, 20, 0};
    kh_cipher_out o;
    assert_int_equal(kh_cipher_encrypt(&o, key, &p, pt, 60), KH_OK);
    assert_int_equal(o.len, 60);
    assert_memory_equal(o.data, ct, 60);
    assert_int_equal(o.tag_len, 16);
    assert_memory_equal(o.tag, tag, 16);
    kh_cipher_out_clear(&o);
    uint8_t *back = NULL;
    size_t n = 0;
    assert_int_equal(kh_cipher_decrypt(&back, &n, key, &p, ct, 60, tag, 16), KH_OK);
    assert_int_equal(n, 60);
    assert_memory_equal(back, pt, 60);
    kh_wipe_free(back, n);
    /* wrong tag, wrong AAD: one error, no plaintext */
    tag[15] ^= 1;
    back = NULL;
    assert_int_equal(kh_cipher_decrypt(&back, &n, key, &p, ct, 60, tag, 16), KH_ERR_CRYPTO);
    assert_null(back);
    tag[15] ^= 1;
    p.aad_len = 19;
    assert_int_equal(kh_cipher_decrypt(&back, &n, key, &p, ct, 60, tag, 16), KH_ERR_CRYPTO);
    kh_secbuf_free(&key);
}

static void test_sha256_abc(void **state)
{
    (void)state;
    uint8_t d[KH_HASH_MAX_LEN], want[32];
    size_t n = 0;
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want);
    assert_int_equal(kh_hash_digest(d, &n, KH_HASH_SHA256, (const uint8_t *)"abc", 3), KH_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(d, want, 32);
    assert_int_equal(kh_hash_digest(d, &n, KH_HASH_NONE, (const uint8_t *)"abc", 3),
                     KH_ERR_INVALID_ARG);
}

/* ---- round trips ------------------------------------------------------- */

static void roundtrip(kh_cipher c, size_t keylen, bool pad, size_t len)
{
    uint8_t k[32] = {1, 2, 3}, pt[100];
    for (size_t i = 0; i < sizeof(pt); i++)
        pt[i] = (uint8_t)i;
    kh_secbuf *key = kh_secbuf_dup(k, keylen);
    kh_cipher_params p = {c, pad, NULL, 0, NULL, 0, 0};
    kh_cipher_out o;
    assert_int_equal(kh_cipher_encrypt(&o, key, &p, pt, len), KH_OK);
    assert_true(o.iv_len == 12 || o.iv_len == 16); /* generated */
    p.iv = o.iv;
    p.iv_len = o.iv_len;
    uint8_t *back = NULL;
    size_t n = 0;
    assert_int_equal(kh_cipher_decrypt(&back, &n, key, &p, o.data, o.len, o.tag, o.tag_len), KH_OK);
    assert_int_equal(n, len);
    assert_memory_equal(back, pt, len);
    kh_wipe_free(back, n);
    kh_cipher_out_clear(&o);
    kh_secbuf_free(&key);
}

static void test_cipher_roundtrips(void **state)
{
    (void)state;
    roundtrip(KH_CIPHER_AES_GCM, 32, false, 0);
    roundtrip(KH_CIPHER_AES_GCM, 24, false, 33);
    roundtrip(KH_CIPHER_AES_CBC, 16, true, 17);
    roundtrip(KH_CIPHER_AES_CBC, 32, false, 32);
    roundtrip(KH_CIPHER_AES_CTR, 16, false, 5);
    roundtrip(KH_CIPHER_CHACHA20_POLY1305, 32, false, 100);
}

static void test_cipher_rejects(void **state)
{
    (void)state;
    uint8_t k[32] = {0}, iv[16] = {0};
    kh_secbuf *key = kh_secbuf_dup(k, 20);
    kh_cipher_params p = {KH_CIPHER_AES_GCM, false, NULL, 0, NULL, 0, 0};
    kh_cipher_out o;
    assert_int_equal(kh_cipher_encrypt(&o, key, &p, k, 1), KH_ERR_INVALID_ARG); /* key size */
    kh_secbuf_free(&key);
    key = kh_secbuf_dup(k, 16);
    p.tag_len = 8;
    assert_int_equal(kh_cipher_encrypt(&o, key, &p, k, 1), KH_ERR_INVALID_ARG);
    p = (kh_cipher_params){KH_CIPHER_AES_CBC, false, iv, 12, NULL, 0, 0};
    assert_int_equal(kh_cipher_encrypt(&o, key, &p, k, 16), KH_ERR_INVALID_ARG); /* IV */
    p.iv_len = 16;
    assert_int_equal(kh_cipher_encrypt(&o, key, &p, k, 15), KH_ERR_INVALID_ARG); /* no pad */
    p.aad = k;
    p.aad_len = 1;
    assert_int_equal(kh_cipher_encrypt(&o, key, &p, k, 16), KH_ERR_INVALID_ARG); /* AAD */
    kh_secbuf_free(&key);
}

static void sign_verify(kh_pkey_type t, kh_sig_scheme s, kh_hash h)
{
    kh_pkey *k = NULL, *pub = NULL;
    uint8_t *sig = NULL, *der = NULL;
    size_t sig_len = 0, der_len = 0;
    bool valid = false;
    const uint8_t msg[] = "message";
    kh_sign_params p = {s, h, -1, false};
    assert_int_equal(kh_pkey_generate(&k, t, 2048), KH_OK);
    assert_int_equal(kh_sign(&sig, &sig_len, k, &p, msg, sizeof(msg)), KH_OK);
    kh_pkey_format f = t == KH_PKEY_RSA ? KH_PKEY_PKCS1 : KH_PKEY_SPKI;
    assert_int_equal(kh_pkey_export_public(&der, &der_len, k, f), KH_OK);
    assert_int_equal(kh_pkey_import(&pub, false, f, der, der_len), KH_OK);
    assert_int_equal(kh_pkey_type_of(pub), t);
    assert_int_equal(kh_verify(&valid, pub, &p, msg, sizeof(msg), sig, sig_len), KH_OK);
    assert_true(valid);
    sig[sig_len / 2] ^= 1;
    assert_int_equal(kh_verify(&valid, pub, &p, msg, sizeof(msg), sig, sig_len), KH_OK);
    assert_false(valid);
    /* a public key cannot sign */
    uint8_t *sig2 = NULL;
    assert_int_equal(kh_sign(&sig2, &sig_len, pub, &p, msg, sizeof(msg)), KH_ERR_INVALID_ARG);
    free(sig);
    free(der);
    kh_pkey_free(&k);
    kh_pkey_free(&pub);
}

static void test_sign_verify(void **state)
{
    (void)state;
    sign_verify(KH_PKEY_RSA, KH_SIG_RSA_PSS, KH_HASH_SHA256);
    sign_verify(KH_PKEY_RSA, KH_SIG_RSA_PKCS1, KH_HASH_SHA384);
    sign_verify(KH_PKEY_EC_P256, KH_SIG_ECDSA, KH_HASH_SHA256);
    sign_verify(KH_PKEY_EC_P521, KH_SIG_ECDSA, KH_HASH_SHA512);
    sign_verify(KH_PKEY_ED25519, KH_SIG_ED25519, KH_HASH_NONE);
}

static void test_pkey_der_roundtrip(void **state)
{
    (void)state;
    kh_pkey *k = NULL, *back = NULL;
    kh_secbuf *der = NULL;
    assert_int_equal(kh_pkey_generate(&k, KH_PKEY_EC_P384, 0), KH_OK);
    assert_int_equal(kh_pkey_bits(k), 384);
    assert_int_equal(kh_pkey_export_private(&der, k, KH_PKEY_PKCS1), KH_ERR_INVALID_ARG);
    assert_int_equal(kh_pkey_export_private(&der, k, KH_PKEY_PKCS8), KH_OK);
    assert_int_equal(kh_pkey_import(&back, true, KH_PKEY_PKCS8, der->data, der->len), KH_OK);
    assert_true(kh_pkey_has_private(back));
    kh_pkey_free(&back);
    /* a trailing byte and a truncated key are both refused */
    kh_secbuf *longer = kh_secbuf_new(der->len + 1);
    memcpy(longer->data, der->data, der->len);
    assert_int_equal(kh_pkey_import(&back, true, KH_PKEY_PKCS8, longer->data, longer->len),
                     KH_ERR_CRYPTO);
    assert_int_equal(kh_pkey_import(&back, true, KH_PKEY_PKCS8, der->data, der->len - 1),
                     KH_ERR_CRYPTO);
    assert_int_equal(kh_pkey_generate(&back, KH_PKEY_RSA, 1024), KH_ERR_INVALID_ARG);
    kh_secbuf_free(&longer);
    kh_secbuf_free(&der);
    kh_pkey_free(&k);
}

static void test_rsa_oaep_and_pkcs1(void **state)
{
    (void)state;
    kh_pkey *k = NULL;
    uint8_t *ct = NULL, *pt = NULL;
    size_t ct_len = 0, pt_len = 0;
    const uint8_t msg[] = "key to wrap";
    assert_int_equal(kh_pkey_generate(&k, KH_PKEY_RSA, 2048), KH_OK);
    assert_int_equal(kh_rsa_encrypt(&ct, &ct_len, k, KH_RSA_OAEP, KH_HASH_SHA1, msg, sizeof(msg)),
                     KH_OK);
    assert_int_equal(kh_rsa_decrypt(&pt, &pt_len, k, KH_RSA_OAEP, KH_HASH_SHA1, ct, ct_len), KH_OK);
    assert_int_equal(pt_len, sizeof(msg));
    assert_memory_equal(pt, msg, sizeof(msg));
    kh_wipe_free(pt, pt_len);
    pt = NULL;
    /* the wrong OAEP hash is a failure, never garbage */
    assert_int_equal(kh_rsa_decrypt(&pt, &pt_len, k, KH_RSA_OAEP, KH_HASH_SHA256, ct, ct_len),
                     KH_ERR_CRYPTO);
    assert_null(pt);
    free(ct);
    assert_int_equal(kh_rsa_encrypt(&ct, &ct_len, k, KH_RSA_PKCS1, KH_HASH_NONE, msg, 3),
                     KH_ERR_UNSUPPORTED);
    kh_pkey_free(&k);
}

static void test_cmac_aes(void **state)
{
    (void)state;
    /* RFC 4493 example 2: AES-128, 16-byte message */
    uint8_t k[16], m[16], want[16], mac[KH_MAC_MAX_LEN];
    size_t n = 0;
    unhex("2b7e151628aed2a6abf7158809cf4f3c", k);
    unhex("6bc1bee22e409f96e93d7e117393172a", m);
    unhex("070a16b46b4d4144f79bdd9dd04a287c", want);
    kh_secbuf *key = kh_secbuf_dup(k, 16);
    assert_int_equal(kh_mac(mac, &n, KH_MAC_CMAC_AES, KH_HASH_NONE, key, m, 16), KH_OK);
    assert_int_equal(n, 16);
    assert_memory_equal(mac, want, 16);
    kh_secbuf_free(&key);
}

/* ---- the operations -------------------------------------------------------- */

static int setup(void **state)
{
    *state = kh_fixture_new();
    return 0;
}

static int teardown(void **state)
{
    kh_fixture *f = *state;
    kh_fixture_free(&f);
    return 0;
}

static kh_ctx ctx_for(kh_fixture *f, const char *who)
{
    kh_ctx c = {.principal = who, .now = 1700000000, .svc = &f->svc};
    return c;
}

static kh_ttlv *alg_len(uint32_t alg, int32_t bits, int32_t mask)
{
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(a, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, alg));
    if (bits)
        kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, bits));
    if (mask)
        kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, mask));
    return a;
}

static void test_op_key_pair_sign_verify(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice"), bob = ctx_for(f, "bob");
    kh_ttlv *common = alg_len(KH_CRYPTOGRAPHIC_ALGORITHM_EC, 256, 0);
    char *priv = NULL, *pub = NULL;
    assert_int_equal(kh_op_create_key_pair(&c, common, NULL, NULL, &priv, &pub), KH_OK);
    kh_crypto_req req = {.uid = priv, .data = (const uint8_t *)"msg", .data_len = 3};
    kh_crypto_result r;
    assert_int_equal(kh_op_sign(&c, &req, &r), KH_ERR_WRONG_STATE); /* PreActive */
    assert_int_equal(kh_op_activate(&c, priv), KH_OK);
    assert_int_equal(kh_op_activate(&c, pub), KH_OK);
    assert_int_equal(kh_op_sign(&c, &req, &r), KH_OK);
    kh_crypto_req v = {
        .uid = pub, .data = req.data, .data_len = 3, .tag = r.data, .tag_len = r.len};
    kh_crypto_result vr;
    assert_int_equal(kh_op_verify(&c, &v, &vr), KH_OK);
    assert_true(vr.valid);
    assert_int_equal(kh_op_verify(&bob, &v, &vr), KH_ERR_NOT_FOUND);
    /* the public key has Verify only: it cannot sign */
    req.uid = pub;
    kh_crypto_result r2;
    assert_int_equal(kh_op_sign(&c, &req, &r2), KH_ERR_PERMISSION);
    kh_crypto_result_clear(&r);
    kh_ttlv_free(&common);
    common = alg_len(KH_CRYPTOGRAPHIC_ALGORITHM_RSA, 1024, 0);
    free(priv);
    free(pub);
    priv = pub = NULL;
    assert_int_equal(kh_op_create_key_pair(&c, common, NULL, NULL, &priv, &pub),
                     KH_ERR_INVALID_FIELD);
    kh_ttlv_free(&common);
}

static void test_op_encrypt_decrypt(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    int32_t mask = KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT | KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT;
    kh_ttlv *a = alg_len(KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256, mask);
    char *uid = NULL;
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    assert_int_equal(kh_op_activate(&c, uid), KH_OK);
    kh_crypto_req req = {.uid = uid,
                         .data = (const uint8_t *)"plain",
                         .data_len = 5,
                         .aad = (const uint8_t *)"aad",
                         .aad_len = 3};
    kh_crypto_result e, d;
    assert_int_equal(kh_op_encrypt(&c, &req, &e), KH_OK);
    assert_int_equal(e.iv_len, 12); /* GCM by default, IV chosen here */
    assert_int_equal(e.tag_len, 16);
    kh_crypto_req dr = {.uid = uid,
                        .data = e.data,
                        .data_len = e.len,
                        .iv = e.iv,
                        .iv_len = e.iv_len,
                        .aad = req.aad,
                        .aad_len = 3,
                        .tag = e.tag,
                        .tag_len = e.tag_len};
    assert_int_equal(kh_op_decrypt(&c, &dr, &d), KH_OK);
    assert_int_equal(d.len, 5);
    assert_memory_equal(d.data, "plain", 5);
    kh_crypto_result_clear(&d);
    dr.aad_len = 2;
    assert_int_equal(kh_op_decrypt(&c, &dr, &d), KH_ERR_CRYPTO);
    assert_null(d.data);
    dr.aad_len = 3;
    dr.tag = NULL;
    assert_int_equal(kh_op_decrypt(&c, &dr, &d), KH_ERR_MISSING_DATA);
    /* the tag in the data, as for a KMIP 1.2 client */
    req.tag_in_data = true;
    kh_crypto_result_clear(&e);
    assert_int_equal(kh_op_encrypt(&c, &req, &e), KH_OK);
    assert_null(e.tag);
    assert_int_equal(e.len, 5 + 16);
    dr = (kh_crypto_req){.uid = uid,
                         .data = e.data,
                         .data_len = e.len,
                         .iv = e.iv,
                         .iv_len = e.iv_len,
                         .aad = req.aad,
                         .aad_len = 3,
                         .tag_in_data = true};
    assert_int_equal(kh_op_decrypt(&c, &dr, &d), KH_OK);
    assert_memory_equal(d.data, "plain", 5);
    kh_crypto_result_clear(&d);
    kh_crypto_result_clear(&e);
    free(uid);
    kh_ttlv_free(&a);
}

static void test_op_usage_and_state(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    kh_ttlv *a = alg_len(KH_CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA256, 256,
                         KH_CRYPTOGRAPHIC_USAGE_MASK_MAC_GENERATE);
    char *uid = NULL;
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    assert_int_equal(kh_op_activate(&c, uid), KH_OK);
    kh_crypto_req req = {.uid = uid, .data = (const uint8_t *)"x", .data_len = 1};
    kh_crypto_result r, v;
    assert_int_equal(kh_op_encrypt(&c, &req, &r), KH_ERR_PERMISSION);
    assert_int_equal(kh_op_mac(&c, &req, &r), KH_OK);
    assert_int_equal(r.len, 32);
    req.tag = r.data;
    req.tag_len = r.len;
    assert_int_equal(kh_op_mac_verify(&c, &req, &v), KH_ERR_PERMISSION); /* no MAC Verify */
    assert_int_equal(
        kh_op_revoke(&c, uid, KH_REVOCATION_REASON_CODE_CESSATION_OF_OPERATION, NULL, 0), KH_OK);
    kh_crypto_result r2;
    assert_int_equal(kh_op_mac(&c, &req, &r2), KH_ERR_WRONG_STATE);
    kh_crypto_result_clear(&r);
    free(uid);
    kh_ttlv_free(&a);
}

static void test_op_rng_hash(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    kh_crypto_result r;
    assert_int_equal(kh_op_rng(&c, 0, &r), KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_op_rng(&c, KH_RNG_MAX + 1, &r), KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_op_rng(&c, 48, &r), KH_OK);
    assert_int_equal(r.len, 48);
    kh_crypto_result_clear(&r);
    kh_ttlv *cp = kh_ttlv_new_struct(KH_TAG_CRYPTOGRAPHIC_PARAMETERS);
    assert_int_equal(kh_op_hash(&c, cp, (const uint8_t *)"abc", 3, &r), KH_ERR_MISSING_DATA);
    kh_ttlv_add_take(cp, kh_ttlv_new_enum(KH_TAG_HASHING_ALGORITHM, KH_HASHING_ALGORITHM_MD5));
    assert_int_equal(kh_op_hash(&c, cp, (const uint8_t *)"abc", 3, &r), KH_ERR_UNSUPPORTED);
    cp->kids[0]->num = KH_HASHING_ALGORITHM_SHA_256;
    assert_int_equal(kh_op_hash(&c, cp, (const uint8_t *)"abc", 3, &r), KH_OK);
    assert_int_equal(r.len, 32);
    assert_int_equal(r.data[0], 0xba);
    kh_crypto_result_clear(&r);
    /* a field of the wrong type */
    kh_ttlv_add_take(cp, kh_ttlv_new_int(KH_TAG_BLOCK_CIPHER_MODE, 1));
    assert_int_equal(kh_op_hash(&c, cp, (const uint8_t *)"abc", 3, &r), KH_ERR_INVALID_FIELD);
    kh_ttlv_free(&cp);
}

int main(void)
{
    if (kh_crypto_init(0) != KH_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231_case1),
        cmocka_unit_test(test_aes_gcm_nist_case4),
        cmocka_unit_test(test_sha256_abc),
        cmocka_unit_test(test_cipher_roundtrips),
        cmocka_unit_test(test_cipher_rejects),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_pkey_der_roundtrip),
        cmocka_unit_test(test_rsa_oaep_and_pkcs1),
        cmocka_unit_test(test_cmac_aes),
        cmocka_unit_test_setup_teardown(test_op_key_pair_sign_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_op_encrypt_decrypt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_op_usage_and_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_op_rng_hash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
