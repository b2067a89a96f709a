/*
 * jwt.c - compact JWS tokens: split, decode, check the header, verify the
 * signature, then the claims (proto/jwt.h).
 *
 * Every buffer has a fixed maximum checked before decoding, so a hostile
 * token costs at most a few kilobytes and one signature verification.
 */
#include "proto/jwt.h"

#include "common/mem.h"
#include "crypto/jose.h"
#include "crypto/sign.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SIG_MAX (KH_JOSE_RSA_MAX_BITS / 8)
#define ES256_SIG_LEN 64

struct kh_jwt {
    kh_jws_alg alg;
    char kid[KH_JWK_KID_MAX];
    char *signing_input; /* "<header>.<payload>" as sent */
    size_t signing_len;
    uint8_t sig[SIG_MAX];
    size_t sig_len;
    json_t *claims;
};

const char *kh_jwt_reason_str(kh_jwt_reason reason)
{
    switch (reason) {
    case KH_JWT_OK:
        return "token accepted";
    case KH_JWT_MALFORMED:
        return "bearer token is not a well-formed JWT";
    case KH_JWT_ALGORITHM:
        return "token algorithm not accepted (RS256 and ES256 only)";
    case KH_JWT_UNKNOWN_KEY:
        return "token signed by a key the issuer does not publish";
    case KH_JWT_SIGNATURE:
        return "token signature does not verify";
    case KH_JWT_EXPIRED:
        return "token expired or has no expiry";
    case KH_JWT_NOT_YET_VALID:
        return "token not yet valid";
    case KH_JWT_ISSUER:
        return "token issuer not accepted";
    case KH_JWT_AUDIENCE:
        return "token audience does not include this server";
    case KH_JWT_SUBJECT:
        return "token subject missing or invalid";
    case KH_JWT_KEYS_UNAVAILABLE:
        return "token issuer keys unavailable";
    }
    return "token refused";
}

static kh_err refuse(kh_jwt_reason *why, kh_jwt_reason r)
{
    if (why)
        *why = r;
    return KH_ERR_AUTH;
}

/* base64url JSON object from part; NULL when anything is off. */
static json_t *decode_json(const char *part, size_t len, size_t max)
{
    uint8_t *buf = kh_xmalloc(max);
    size_t n = 0;
    json_t *j = NULL;
    if (kh_base64url_decode(buf, max, &n, part, len) == KH_OK)
        j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    kh_wipe_free(buf, max);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static kh_jws_alg alg_of(const json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    /* exact, case-sensitive names (RFC 7518 section 3.1) */
    if (strcmp(s, "RS256") == 0)
        return KH_JWS_RS256;
    if (strcmp(s, "ES256") == 0)
        return KH_JWS_ES256;
    return KH_JWS_NONE;
}

static kh_jwt_reason read_header(kh_jwt *t, const char *part, size_t len)
{
    json_t *h = decode_json(part, len, KH_JWT_HEADER_MAX);
    kh_jwt_reason r = KH_JWT_MALFORMED;
    if (!h)
        return r;
    const json_t *kid = json_object_get(h, "kid");
    t->alg = alg_of(json_object_get(h, "alg"));
    if (t->alg == KH_JWS_NONE || json_object_get(h, "crit")) {
        r = KH_JWT_ALGORITHM;
        goto out;
    }
    if (kid && (!json_is_string(kid) || json_string_length(kid) >= sizeof(t->kid)))
        goto out;
    if (kid)
        memcpy(t->kid, json_string_value(kid), json_string_length(kid) + 1);
    r = KH_JWT_OK;
out:
    json_decref(h);
    return r;
}

kh_err kh_jwt_parse(const char *token, size_t len, kh_jwt **out, kh_jwt_reason *why)
{
    if (!token || !out)
        return KH_ERR_INVALID_ARG;
    if (len == 0 || len > KH_JWT_MAX)
        return refuse(why, KH_JWT_MALFORMED);
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    const char *end = token + len;
    if (!d2 || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) || d1 == token || d2 == d1 + 1 ||
        d2 + 1 == end)
        return refuse(why, KH_JWT_MALFORMED);
    kh_jwt *t = kh_xcalloc(1, sizeof(*t));
    kh_jwt_reason r = read_header(t, token, (size_t)(d1 - token));
    if (r == KH_JWT_OK) {
        t->claims = decode_json(d1 + 1, (size_t)(d2 - d1 - 1), KH_JWT_PAYLOAD_MAX);
        if (!t->claims || kh_base64url_decode(t->sig, sizeof(t->sig), &t->sig_len, d2 + 1,
                                              (size_t)(end - d2 - 1)) != KH_OK)
            r = KH_JWT_MALFORMED;
    }
    if (r != KH_JWT_OK) {
        kh_jwt_free(&t);
        return refuse(why, r);
    }
    t->signing_len = (size_t)(d2 - token);
    t->signing_input = kh_xstrndup(token, t->signing_len);
    *out = t;
    return KH_OK;
}

kh_jws_alg kh_jwt_alg(const kh_jwt *t)
{
    return t ? t->alg : KH_JWS_NONE;
}

const char *kh_jwt_kid(const kh_jwt *t)
{
    return t ? t->kid : "";
}

void kh_jwt_free(kh_jwt **t)
{
    if (!t || !*t)
        return;
    json_decref((*t)->claims);
    /* header and claims of a bearer credential: wiped like the header */
    if ((*t)->signing_input)
        kh_wipe_free((*t)->signing_input, (*t)->signing_len);
    free(*t);
    *t = NULL;
}

static kh_jwt_reason check_signature(const kh_jwt *t, const kh_jwks *keys)
{
    const kh_pkey *key = kh_jwks_find(keys, t->kid, t->alg);
    if (!key)
        return KH_JWT_UNKNOWN_KEY;
    kh_sign_params p = {KH_SIG_RSA_PKCS1, KH_HASH_SHA256, 0, false};
    const uint8_t *sig = t->sig;
    size_t sig_len = t->sig_len;
    uint8_t *der = NULL;
    bool valid = false;
    if (t->alg == KH_JWS_ES256) {
        p.scheme = KH_SIG_ECDSA;
        /* JWS carries r || s (RFC 7518 section 3.4); OpenSSL wants DER */
        if (kh_jose_ecdsa_raw_to_der(&der, &sig_len, t->sig, t->sig_len, ES256_SIG_LEN / 2) !=
            KH_OK)
            return KH_JWT_SIGNATURE;
        sig = der;
    }
    if (kh_verify(&valid, key, &p, (const uint8_t *)t->signing_input, t->signing_len, sig,
                  sig_len) != KH_OK)
        valid = false;
    free(der);
    return valid ? KH_JWT_OK : KH_JWT_SIGNATURE;
}

/* A NumericDate claim (RFC 7519 section 2); false when absent or not a
 * finite number. */
static bool numeric_date(const json_t *claims, const char *name, double *out)
{
    const json_t *v = json_object_get(claims, name);
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return false;
    *out = json_number_value(v);
    return true;
}

static bool audience_ok(const json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

/* sub: 1..KH_JWT_CLAIM_MAX bytes, no control characters (it ends up in
 * logs and the audit trail). */
static const char *subject_of(const json_t *claims)
{
    const json_t *v = json_object_get(claims, "sub");
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > KH_JWT_CLAIM_MAX)
        return NULL;
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    for (size_t i = 0; i < json_string_length(v); i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return NULL;
    }
    return (const char *)s;
}

static kh_jwt_reason check_claims(const json_t *c, const kh_jwt_policy *p, int64_t now)
{
    const json_t *iss = json_object_get(c, "iss");
    double exp, nbf, t = (double)now, leeway = (double)p->leeway_s;
    if (!json_is_string(iss) || strcmp(json_string_value(iss), p->issuer) != 0)
        return KH_JWT_ISSUER;
    /* RFC 7519 4.1.4: valid strictly before exp */
    if (!numeric_date(c, "exp", &exp) || t >= exp + leeway)
        return KH_JWT_EXPIRED;
    if (json_object_get(c, "nbf") && (!numeric_date(c, "nbf", &nbf) || t + leeway < nbf))
        return KH_JWT_NOT_YET_VALID;
    if (p->audience && !audience_ok(json_object_get(c, "aud"), p->audience))
        return KH_JWT_AUDIENCE;
    if (!subject_of(c))
        return KH_JWT_SUBJECT;
    return KH_JWT_OK;
}

kh_err kh_jwt_verify(const kh_jwt *t, const kh_jwks *keys, const kh_jwt_policy *p, int64_t now,
                     char *identity, size_t cap, kh_jwt_reason *why)
{
    if (!t || !p || !p->issuer || !identity)
        return KH_ERR_INVALID_ARG;
    kh_jwt_reason r = check_signature(t, keys);
    if (r == KH_JWT_OK)
        r = check_claims(t->claims, p, now);
    if (r != KH_JWT_OK)
        return refuse(why, r);
    int n = snprintf(identity, cap, "jwt:%s#%s", p->issuer, subject_of(t->claims));
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            identity[0] = '\0';
        return refuse(why, KH_JWT_SUBJECT);
    }
    if (why)
        *why = KH_JWT_OK;
    return KH_OK;
}
