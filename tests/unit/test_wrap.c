/*
 * test_wrap.c - key wrapping and derivation: crypto/wrap.h and
 * crypto/kdf.h against the RFCs' vectors, and ops/keyops.h (Get wrapped or
 * in another format, ReKey, ReKeyKeyPair, DeriveKey) on a real SQLite file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/mem.h"
#include "crypto/cipher.h"
#include "crypto/kdf.h"
#include "crypto/pkey.h"
#include "crypto/wrap.h"
#include "fixture.h"
#include "ops/crypto_ops.h"
#include "ops/keyops.h"
#include "ops/object.h"
#include "proto/kmip_consts.h"

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

static const char *rfc5649_kek = "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8";

static void check_kwp(const char *key_hex, const char *wrap_hex)
{
    uint8_t k[24], key[32], want[48];
    unhex(rfc5649_kek, k);
    size_t key_len = unhex(key_hex, key), want_len = unhex(wrap_hex, want);
    kh_secbuf *kek = kh_secbuf_dup(k, sizeof(k));
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    assert_int_equal(kh_key_wrap(&ct, &ct_len, KH_KW_RFC5649, kek, key, key_len), KH_OK);
    assert_int_equal(ct_len, want_len);
    assert_memory_equal(ct, want, want_len);
    kh_secbuf *pt = NULL;
    assert_int_equal(kh_key_unwrap(&pt, KH_KW_RFC5649, kek, ct, ct_len), KH_OK);
    assert_int_equal(pt->len, key_len);
    assert_memory_equal(pt->data, key, key_len);
    kh_secbuf_free(&pt);
    ct[ct_len - 1] ^= 1; /* the integrity check must catch it */
    assert_int_equal(kh_key_unwrap(&pt, KH_KW_RFC5649, kek, ct, ct_len), KH_ERR_CRYPTO);
    assert_null(pt);
    free(ct);
    kh_secbuf_free(&kek);
}

/* RFC 5649 §6: 20 and 7 octets of key data under a 192-bit KEK. */
static void test_rfc5649_vectors(void **state)
{
    (void)state;
    check_kwp("c37b7e6492584340bed12207808941155068f738",
              "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a");
    check_kwp("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f");
}

/* RFC 3394 §4.1: 128 bits of key data with a 128-bit KEK. */
static void test_rfc3394_vector(void **state)
{
    (void)state;
    uint8_t k[16], data[16], want[24];
    unhex("000102030405060708090a0b0c0d0e0f", k);
    unhex("00112233445566778899aabbccddeeff", data);
    unhex("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5", want);
    kh_secbuf *kek = kh_secbuf_dup(k, sizeof(k));
    uint8_t *ct = NULL;
    size_t n = 0;
    assert_int_equal(kh_key_wrap(&ct, &n, KH_KW_RFC3394, kek, data, 16), KH_OK);
    assert_int_equal(n, 24);
    assert_memory_equal(ct, want, 24);
    free(ct);
    assert_int_equal(kh_key_wrap(&ct, &n, KH_KW_RFC3394, kek, data, 15), KH_ERR_INVALID_ARG);
    kh_secbuf *bad = kh_secbuf_dup(k, 15);
    assert_int_equal(kh_key_wrap(&ct, &n, KH_KW_RFC5649, bad, data, 16), KH_ERR_INVALID_ARG);
    kh_secbuf *pt = NULL;
    assert_int_equal(kh_key_unwrap(&pt, KH_KW_RFC5649, kek, want, 12), KH_ERR_CRYPTO);
    kh_secbuf_free(&bad);
    kh_secbuf_free(&kek);
}

static void test_rsa_oaep_and_hybrid_roundtrip(void **state)
{
    (void)state;
    kh_pkey *k = NULL;
    uint8_t secret[600];
    for (size_t i = 0; i < sizeof(secret); i++)
        secret[i] = (uint8_t)(i * 7);
    assert_int_equal(kh_pkey_generate(&k, KH_PKEY_RSA, 2048), KH_OK);
    kh_hash hashes[] = {KH_HASH_SHA1, KH_HASH_SHA256};
    for (size_t h = 0; h < 2; h++) {
        uint8_t *ct = NULL, *pt = NULL;
        size_t ct_len = 0, pt_len = 0;
        assert_int_equal(kh_rsa_encrypt(&ct, &ct_len, k, KH_RSA_OAEP, hashes[h], secret, 32),
                         KH_OK);
        assert_int_equal(ct_len, 256);
        assert_int_equal(kh_rsa_decrypt(&pt, &pt_len, k, KH_RSA_OAEP, hashes[h], ct, ct_len),
                         KH_OK);
        assert_int_equal(pt_len, 32);
        assert_memory_equal(pt, secret, 32);
        kh_wipe_free(pt, pt_len);
        free(ct);
        /* 600 bytes: too much for OAEP alone, fine for OAEP + KWP */
        kh_secbuf *out = NULL;
        assert_int_equal(kh_rsa_aes_wrap(&ct, &ct_len, k, hashes[h], secret, sizeof(secret)),
                         KH_OK);
        assert_int_equal(ct_len, 256 + 8 + sizeof(secret));
        assert_int_equal(kh_rsa_aes_unwrap(&out, k, hashes[h], ct, ct_len), KH_OK);
        assert_int_equal(out->len, sizeof(secret));
        assert_memory_equal(out->data, secret, sizeof(secret));
        kh_secbuf_free(&out);
        ct[ct_len - 3] ^= 0x40;
        assert_int_equal(kh_rsa_aes_unwrap(&out, k, hashes[h], ct, ct_len), KH_ERR_CRYPTO);
        assert_int_equal(kh_rsa_aes_unwrap(&out, k, hashes[h], ct, 100), KH_ERR_CRYPTO);
        free(ct);
    }
    kh_pkey_free(&k);
}

/* RFC 6070 case 2 (PBKDF2-HMAC-SHA1) and RFC 5869 case 1 (HKDF-SHA256). */
static void test_kdf_vectors(void **state)
{
    (void)state;
    uint8_t want[64], ikm[22], salt[13], info[10];
    kh_secbuf *pw = kh_secbuf_dup((const uint8_t *)"password", 8);
    kh_secbuf *out = kh_secbuf_new(20);
    unhex("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957", want);
    assert_int_equal(kh_pbkdf2(out, KH_HASH_SHA1, pw, (const uint8_t *)"salt", 4, 2), KH_OK);
    assert_memory_equal(out->data, want, 20);
    assert_int_equal(kh_pbkdf2(out, KH_HASH_SHA1, pw, (const uint8_t *)"salt", 4, 0),
                     KH_ERR_INVALID_ARG);
    kh_secbuf_free(&out);
    memset(ikm, 0x0b, sizeof(ikm));
    unhex("000102030405060708090a0b0c", salt);
    unhex("f0f1f2f3f4f5f6f7f8f9", info);
    unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
          want);
    kh_secbuf *key = kh_secbuf_dup(ikm, sizeof(ikm));
    out = kh_secbuf_new(42);
    assert_int_equal(kh_hkdf(out, KH_HASH_SHA256, key, salt, sizeof(salt), info, sizeof(info)),
                     KH_OK);
    assert_memory_equal(out->data, want, 42);
    /* KBKDF: deterministic, length-sensitive, key-sensitive */
    kh_secbuf *a = kh_secbuf_new(32), *b = kh_secbuf_new(32);
    assert_int_equal(kh_kbkdf_counter(a, KH_HASH_SHA256, key, info, sizeof(info)), KH_OK);
    assert_int_equal(kh_kbkdf_counter(b, KH_HASH_SHA256, key, info, sizeof(info)), KH_OK);
    assert_memory_equal(a->data, b->data, 32);
    assert_int_equal(kh_kbkdf_counter(b, KH_HASH_SHA256, pw, info, sizeof(info)), KH_OK);
    assert_memory_not_equal(a->data, b->data, 32);
    kh_secbuf_free(&a);
    kh_secbuf_free(&b);
    kh_secbuf_free(&out);
    kh_secbuf_free(&key);
    kh_secbuf_free(&pw);
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

static kh_ttlv *alg_len(uint32_t alg, int32_t bits, int32_t mask, const char *name)
{
    kh_ttlv *a = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(a, kh_ttlv_new_enum(KH_TAG_CRYPTOGRAPHIC_ALGORITHM, alg));
    if (bits)
        kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_LENGTH, bits));
    if (mask)
        kh_ttlv_add_take(a, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_USAGE_MASK, mask));
    if (name) {
        kh_ttlv *n = kh_ttlv_add_take(a, kh_ttlv_new_struct(KH_TAG_NAME));
        kh_ttlv_add_take(n, kh_ttlv_new_text(KH_TAG_NAME_VALUE, name));
        kh_ttlv_add_take(n, kh_ttlv_new_enum(KH_TAG_NAME_TYPE, 1));
    }
    return a;
}

static char *new_key(kh_ctx *c, uint32_t alg, int32_t bits, int32_t mask, bool activate)
{
    kh_ttlv *a = alg_len(alg, bits, mask, NULL);
    char *uid = NULL;
    assert_int_equal(kh_op_create(c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &uid), KH_OK);
    kh_ttlv_free(&a);
    if (activate)
        assert_int_equal(kh_op_activate(c, uid), KH_OK);
    return uid;
}

/* The KeyMaterial item of a Get answer. */
static const kh_ttlv *material_of(const kh_ttlv *obj)
{
    const kh_ttlv *kb = kh_ttlv_find(obj, KH_TAG_KEY_BLOCK);
    const kh_ttlv *kv = kh_ttlv_find(kb, KH_TAG_KEY_VALUE);
    return kv->type == KH_TTLV_STRUCTURE ? kh_ttlv_find(kv, KH_TAG_KEY_MATERIAL) : kv;
}

static void test_op_get_wrapped_aes(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice"), bob = ctx_for(f, "bob");
    char *kek = new_key(&c, KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256,
                        KH_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY, true);
    char *target = new_key(&c, KH_CRYPTOGRAPHIC_ALGORITHM_AES, 128, 0, false);
    uint32_t type;
    kh_ttlv *plain = NULL, *wrapped = NULL;
    assert_int_equal(kh_op_get(&c, target, &type, &plain), KH_OK);
    kh_wrap_spec w = {.method = KH_WRAPPING_METHOD_ENCRYPT,
                      .key_uid = kek,
                      .encoding = KH_ENCODING_OPTION_NO_ENCODING};
    assert_int_equal(kh_op_get_as(&c, target, 0, &w, &type, &wrapped), KH_OK);
    const kh_ttlv *kb = kh_ttlv_find(wrapped, KH_TAG_KEY_BLOCK);
    assert_non_null(kh_ttlv_find(kb, KH_TAG_KEY_WRAPPING_DATA));
    kh_ttlv *kek_obj = NULL;
    assert_int_equal(kh_op_get(&c, kek, &type, &kek_obj), KH_OK);
    const kh_ttlv *kk = material_of(kek_obj), *wk = material_of(wrapped), *pk = material_of(plain);
    kh_secbuf *kekb = kh_secbuf_dup(kk->data, kk->len), *out = NULL;
    assert_int_equal(kh_key_unwrap(&out, KH_KW_RFC5649, kekb, wk->data, wk->len), KH_OK);
    assert_int_equal(out->len, 16);
    assert_memory_equal(out->data, pk->data, 16);
    kh_secbuf_free(&out);
    kh_ttlv_free(&wrapped);
    /* TTLV encoding (the default): the KeyValue is a wrapped structure */
    w.encoding = 0;
    assert_int_equal(kh_op_get_as(&c, target, 0, &w, &type, &wrapped), KH_OK);
    wk = material_of(wrapped);
    assert_int_equal(wk->type, KH_TTLV_BYTE_STRING);
    assert_int_equal(kh_key_unwrap(&out, KH_KW_RFC5649, kekb, wk->data, wk->len), KH_OK);
    kh_ttlv *kv = NULL;
    assert_int_equal(kh_ttlv_decode(out->data, out->len, &kh_ttlv_default_limits, &kv), KH_OK);
    assert_true(
        kh_ttlv_equal(kv, kh_ttlv_find(kh_ttlv_find(plain, KH_TAG_KEY_BLOCK), KH_TAG_KEY_VALUE)));
    kh_ttlv_free(&kv);
    kh_secbuf_free(&out);
    kh_ttlv_free(&wrapped);
    /* sealed import: what a Get wrapped under a key with UnwrapKey too
     * registers back as the plain key; without UnwrapKey it is refused */
    char *both = new_key(
        &c, KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256,
        KH_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY | KH_CRYPTOGRAPHIC_USAGE_MASK_UNWRAP_KEY, true);
    char *imported = NULL;
    kh_ttlv *back = NULL;
    assert_int_equal(kh_op_get_as(&c, target, 0, &w, &type, &wrapped), KH_OK);
    assert_int_equal(kh_op_register(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, NULL, wrapped, &imported),
                     KH_ERR_PERMISSION);
    kh_ttlv_free(&wrapped);
    w.key_uid = both;
    assert_int_equal(kh_op_get_as(&c, target, 0, &w, &type, &wrapped), KH_OK);
    assert_int_equal(kh_op_register(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, NULL, wrapped, &imported),
                     KH_OK);
    assert_int_equal(kh_op_get(&c, imported, &type, &back), KH_OK);
    assert_true(kh_ttlv_equal(back, plain));
    kh_ttlv_free(&back);
    kh_ttlv_free(&wrapped);
    free(imported);
    free(both);
    w.key_uid = kek;
    /* refusals: no WrapKey bit, not Active, not ours, not a wrapping method we do */
    char *no_wrap = new_key(&c, KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256, 0, true);
    char *pre = new_key(&c, KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256,
                        KH_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY, false);
    w.key_uid = no_wrap;
    assert_int_equal(kh_op_get_as(&c, target, 0, &w, &type, &wrapped), KH_ERR_PERMISSION);
    w.key_uid = pre;
    assert_int_equal(kh_op_get_as(&c, target, 0, &w, &type, &wrapped), KH_ERR_WRONG_STATE);
    w.key_uid = kek;
    assert_int_equal(kh_op_get_as(&bob, target, 0, &w, &type, &wrapped), KH_ERR_NOT_FOUND);
    w.method = KH_WRAPPING_METHOD_MAC_SIGN;
    assert_int_equal(kh_op_get_as(&c, target, 0, &w, &type, &wrapped), KH_ERR_UNSUPPORTED);
    /* format conversion: Raw <-> Transparent, and what we do not convert */
    kh_ttlv *t = NULL;
    assert_int_equal(
        kh_op_get_as(&c, target, KH_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY, NULL, &type, &t),
        KH_OK);
    const kh_ttlv *key = kh_ttlv_find(material_of(t), KH_TAG_KEY);
    assert_non_null(key);
    assert_memory_equal(key->data, pk->data, 16);
    assert_int_equal(kh_key_format_convert(t, KH_KEY_FORMAT_TYPE_RAW), KH_OK);
    assert_true(kh_ttlv_equal(t, plain));
    assert_int_equal(kh_key_format_convert(t, KH_KEY_FORMAT_TYPE_PKCS_8), KH_ERR_KEY_FORMAT);
    kh_ttlv_free(&t);
    kh_secbuf_free(&kekb);
    kh_ttlv_free(&kek_obj);
    kh_ttlv_free(&plain);
    free(no_wrap);
    free(pre);
    free(kek);
    free(target);
}

static void test_op_get_wrapped_rsa_and_formats(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    kh_ttlv *common = alg_len(KH_CRYPTOGRAPHIC_ALGORITHM_RSA, 2048, 0, NULL);
    kh_ttlv *pub_attrs = kh_ttlv_new_struct(KH_TAG_ATTRIBUTES);
    kh_ttlv_add_take(pub_attrs, kh_ttlv_new_int(KH_TAG_CRYPTOGRAPHIC_USAGE_MASK,
                                                KH_CRYPTOGRAPHIC_USAGE_MASK_WRAP_KEY));
    char *priv = NULL, *pub = NULL;
    assert_int_equal(kh_op_create_key_pair(&c, common, NULL, pub_attrs, &priv, &pub), KH_OK);
    assert_int_equal(kh_op_activate(&c, pub), KH_OK);
    char *target = new_key(&c, KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256, 0, false);
    uint32_t type;
    kh_ttlv *plain = NULL, *wrapped = NULL, *privobj = NULL;
    assert_int_equal(kh_op_get(&c, target, &type, &plain), KH_OK);
    assert_int_equal(kh_op_get_as(&c, priv, KH_KEY_FORMAT_TYPE_PKCS_8, NULL, &type, &privobj),
                     KH_OK);
    const kh_ttlv *der = material_of(privobj);
    kh_pkey *k = NULL;
    assert_int_equal(kh_pkey_import(&k, true, KH_PKEY_PKCS8, der->data, der->len), KH_OK);
    /* X.509 of the public key reads back too, and PKCS#1 <- PKCS#8 */
    kh_ttlv *spki = NULL;
    assert_int_equal(kh_op_get_as(&c, pub, KH_KEY_FORMAT_TYPE_X_509, NULL, &type, &spki), KH_OK);
    kh_pkey *pk = NULL;
    der = material_of(spki);
    assert_int_equal(kh_pkey_import(&pk, false, KH_PKEY_SPKI, der->data, der->len), KH_OK);
    kh_pkey_free(&pk);
    assert_int_equal(kh_key_format_convert(privobj, KH_KEY_FORMAT_TYPE_PKCS_1), KH_OK);
    assert_int_equal(kh_key_format_convert(privobj, KH_KEY_FORMAT_TYPE_X_509), KH_ERR_KEY_FORMAT);
    assert_int_equal(kh_key_format_convert(spki, KH_KEY_FORMAT_TYPE_PKCS_8), KH_ERR_KEY_FORMAT);
    assert_int_equal(kh_key_format_convert(spki, KH_KEY_FORMAT_TYPE_RAW), KH_ERR_KEY_FORMAT);
    kh_wrap_spec w = {.method = KH_WRAPPING_METHOD_ENCRYPT,
                      .key_uid = pub,
                      .encoding = KH_ENCODING_OPTION_NO_ENCODING};
    assert_int_equal(kh_op_get_as(&c, target, 0, &w, &type, &wrapped), KH_OK);
    const kh_ttlv *wk = material_of(wrapped), *p = material_of(plain);
    uint8_t *pt = NULL;
    size_t pt_len = 0;
    assert_int_equal(
        kh_rsa_decrypt(&pt, &pt_len, k, KH_RSA_OAEP, KH_HASH_SHA256, wk->data, wk->len), KH_OK);
    assert_int_equal(pt_len, 32);
    assert_memory_equal(pt, p->data, 32);
    kh_wipe_free(pt, pt_len);
    kh_ttlv_free(&wrapped);
    /* the hybrid, for the private key itself: too large for OAEP alone */
    kh_ttlv *cp = kh_ttlv_new_struct(KH_TAG_CRYPTOGRAPHIC_PARAMETERS);
    kh_ttlv_add_take(
        cp, kh_ttlv_new_enum(KH_TAG_BLOCK_CIPHER_MODE, KH_BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING));
    kh_ttlv_add_take(cp, kh_ttlv_new_enum(KH_TAG_HASHING_ALGORITHM, KH_HASHING_ALGORITHM_SHA_1));
    assert_int_equal(kh_op_get_as(&c, priv, 0, &w, &type, &wrapped), KH_ERR_INVALID_FIELD);
    w.params = cp;
    kh_ttlv *orig = NULL;
    assert_int_equal(kh_op_get(&c, priv, &type, &orig), KH_OK);
    assert_int_equal(kh_op_get_as(&c, priv, 0, &w, &type, &wrapped), KH_OK);
    wk = material_of(wrapped);
    kh_secbuf *out = NULL;
    assert_int_equal(kh_rsa_aes_unwrap(&out, k, KH_HASH_SHA1, wk->data, wk->len), KH_OK);
    p = material_of(orig);
    assert_int_equal(out->len, p->len);
    assert_memory_equal(out->data, p->data, p->len);
    kh_secbuf_free(&out);
    kh_ttlv_free(&wrapped);
    kh_ttlv_free(&orig);
    kh_ttlv_free(&cp);
    kh_pkey_free(&k);
    kh_ttlv_free(&spki);
    kh_ttlv_free(&privobj);
    kh_ttlv_free(&plain);
    kh_ttlv_free(&pub_attrs);
    kh_ttlv_free(&common);
    free(target);
    free(priv);
    free(pub);
}

static const char *link_of(kh_ctx *c, const char *uid, uint32_t type)
{
    static char found[64];
    kh_object *o = NULL;
    assert_int_equal(kh_object_load(c, uid, &o), KH_OK);
    found[0] = 0;
    for (size_t i = 0; i < o->attrs->nkids; i++) {
        const kh_ttlv *a = o->attrs->kids[i];
        const kh_ttlv *t = kh_ttlv_find(a, KH_TAG_LINK_TYPE);
        if (a->tag == KH_TAG_LINK && t && (uint32_t)t->num == type)
            snprintf(found, sizeof(found), "%s",
                     (const char *)kh_ttlv_find(a, KH_TAG_LINKED_OBJECT_IDENTIFIER)->data);
    }
    kh_object_free(&o);
    return found;
}

static void test_op_rekey(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice"), bob = ctx_for(f, "bob");
    kh_ttlv *a = alg_len(KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256,
                         KH_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT | KH_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT,
                         "rotating");
    char *old = NULL, *new_uid = NULL;
    assert_int_equal(kh_op_create(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, a, &old), KH_OK);
    assert_int_equal(kh_op_activate(&c, old), KH_OK);
    assert_int_equal(kh_op_rekey(&bob, old, -1, NULL, &new_uid), KH_ERR_NOT_FOUND);
    assert_int_equal(kh_op_rekey(&c, old, 3600, NULL, &new_uid), KH_OK);
    assert_string_equal(link_of(&c, old, KH_LINK_TYPE_REPLACEMENT_OBJECT_LINK), new_uid);
    assert_string_equal(link_of(&c, new_uid, KH_LINK_TYPE_REPLACED_OBJECT_LINK), old);
    kh_object *o = NULL, *n = NULL;
    assert_int_equal(kh_object_load(&c, old, &o), KH_OK);
    assert_int_equal(kh_object_load(&c, new_uid, &n), KH_OK);
    assert_int_equal(n->row->state, KH_STATE_PRE_ACTIVE); /* active in an hour */
    assert_int_equal(o->row->state, KH_STATE_ACTIVE);
    assert_int_equal(kh_ttlv_find(n->attrs, KH_TAG_ACTIVATION_DATE)->num, c.now + 3600);
    assert_true(
        kh_ttlv_equal(kh_ttlv_find(n->attrs, KH_TAG_NAME), kh_ttlv_find(o->attrs, KH_TAG_NAME)));
    assert_true(kh_ttlv_equal(kh_ttlv_find(n->attrs, KH_TAG_CRYPTOGRAPHIC_USAGE_MASK),
                              kh_ttlv_find(o->attrs, KH_TAG_CRYPTOGRAPHIC_USAGE_MASK)));
    assert_int_equal(n->row->length, 256);
    kh_object_free(&o);
    kh_object_free(&n);
    /* no offset: the old dates, so the new key is Active at once */
    char *third = NULL;
    assert_int_equal(kh_op_rekey(&c, old, -1, NULL, &third), KH_OK);
    assert_int_equal(kh_object_load(&c, third, &n), KH_OK);
    assert_int_equal(n->row->state, KH_STATE_ACTIVE);
    kh_object_free(&n);
    assert_int_equal(kh_op_destroy(&c, third), KH_ERR_WRONG_STATE); /* Active: revoke first */
    free(third);
    free(new_uid);
    kh_ttlv_free(&a);
    /* a key pair */
    kh_ttlv *common = alg_len(KH_CRYPTOGRAPHIC_ALGORITHM_EC, 256, 0, "pair");
    char *priv = NULL, *pub = NULL, *np = NULL, *nu = NULL;
    assert_int_equal(kh_op_create_key_pair(&c, common, NULL, NULL, &priv, &pub), KH_OK);
    assert_int_equal(kh_op_rekey_key_pair(&c, pub, -1, NULL, NULL, NULL, &np, &nu),
                     KH_ERR_INVALID_FIELD);
    assert_int_equal(kh_op_rekey_key_pair(&c, priv, -1, NULL, NULL, NULL, &np, &nu), KH_OK);
    assert_string_equal(link_of(&c, priv, KH_LINK_TYPE_REPLACEMENT_OBJECT_LINK), np);
    assert_string_equal(link_of(&c, pub, KH_LINK_TYPE_REPLACEMENT_OBJECT_LINK), nu);
    assert_string_equal(link_of(&c, np, KH_LINK_TYPE_PUBLIC_KEY_LINK), nu);
    assert_string_equal(link_of(&c, nu, KH_LINK_TYPE_PRIVATE_KEY_LINK), np);
    assert_string_equal(link_of(&c, nu, KH_LINK_TYPE_REPLACED_OBJECT_LINK), pub);
    free(np);
    free(nu);
    free(priv);
    free(pub);
    free(old);
    kh_ttlv_free(&common);
}

static void test_op_derive(void **state)
{
    kh_fixture *f = *state;
    kh_ctx c = ctx_for(f, "alice");
    char *base = new_key(&c, KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256,
                         KH_CRYPTOGRAPHIC_USAGE_MASK_DERIVE_KEY, true);
    char *nope = new_key(&c, KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256, 0, true);
    uint32_t type;
    kh_ttlv *b = NULL;
    assert_int_equal(kh_op_get(&c, base, &type, &b), KH_OK);
    const kh_ttlv *bm = material_of(b);
    kh_secbuf *bk = kh_secbuf_dup(bm->data, bm->len);
    kh_ttlv *target = alg_len(KH_CRYPTOGRAPHIC_ALGORITHM_AES, 256, 0, NULL);
    const char *ids[] = {base};
    kh_derive_params p = {.salt = (const uint8_t *)"salty", .salt_len = 5, .iterations = 1000};
    char *uid = NULL;
    assert_int_equal(kh_op_derive_key(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, ids, 1,
                                      KH_DERIVATION_METHOD_PBKDF2, &p, target, &uid),
                     KH_OK);
    kh_ttlv *d = NULL;
    assert_int_equal(kh_op_get(&c, uid, &type, &d), KH_OK);
    kh_secbuf *want = kh_secbuf_new(32);
    assert_int_equal(kh_pbkdf2(want, KH_HASH_SHA256, bk, p.salt, 5, 1000), KH_OK);
    assert_memory_equal(material_of(d)->data, want->data, 32);
    assert_string_equal(link_of(&c, uid, KH_LINK_TYPE_DERIVATION_BASE_OBJECT_LINK), base);
    kh_ttlv_free(&d);
    free(uid);
    uid = NULL;
    p.iterations = -1;
    assert_int_equal(kh_op_derive_key(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, ids, 1,
                                      KH_DERIVATION_METHOD_PBKDF2, &p, target, &uid),
                     KH_ERR_MISSING_DATA);
    p.data = (const uint8_t *)"context";
    p.data_len = 7;
    assert_int_equal(kh_op_derive_key(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, ids, 1,
                                      KH_DERIVATION_METHOD_NIST800_108_F, &p, target, &uid),
                     KH_ERR_UNSUPPORTED);
    ids[0] = nope;
    assert_int_equal(kh_op_derive_key(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, ids, 1,
                                      KH_DERIVATION_METHOD_HKDF, &p, target, &uid),
                     KH_ERR_PERMISSION);
    ids[0] = base;
    assert_int_equal(kh_op_derive_key(&c, KH_OBJECT_TYPE_SYMMETRIC_KEY, ids, 1,
                                      KH_DERIVATION_METHOD_HKDF, &p, target, &uid),
                     KH_OK);
    free(uid);
    kh_secbuf_free(&want);
    kh_secbuf_free(&bk);
    kh_ttlv_free(&target);
    kh_ttlv_free(&b);
    free(base);
    free(nope);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5649_vectors),
        cmocka_unit_test(test_rfc3394_vector),
        cmocka_unit_test(test_rsa_oaep_and_hybrid_roundtrip),
        cmocka_unit_test(test_kdf_vectors),
        cmocka_unit_test_setup_teardown(test_op_get_wrapped_aes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_op_get_wrapped_rsa_and_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_op_rekey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_op_derive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
