/*
 * authn.c - the identity of an HTTPS request and the user it acts as
 * (proto/authn.h).
 *
 * Each kind of credential has its own function below (API keys, JWT
 * bearer tokens, client certificates), and kh_authn_http only picks which
 * one applies.
 */
#include "proto/authn.h"

#include "common/log.h"
#include "common/mem.h"
#include "crypto/digest.h"
#include "crypto/secbuf.h"
#include "proto/http_routes.h"
#include "proto/jwt_auth.h"
#include "proto/proxy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ADMIN_TOKEN_MIN 16

struct kh_authn {
    kh_store *store;      /* borrowed: API keys */
    char *admin_token;    /* NULL = none; wiped on free */
    kh_proxy_list *proxy; /* NULL = trust no proxy */
    kh_jwt_auth *jwt;     /* NULL = no JWT issuer configured */
};

kh_err kh_authn_new(kh_store *store, kh_authn **out)
{
    kh_authn *a = kh_xcalloc(1, sizeof(*a));
    a->store = store;
    *out = a;
    return KH_OK;
}

void kh_authn_free(kh_authn **pa)
{
    if (!pa || !*pa)
        return;
    kh_authn *a = *pa;
    if (a->admin_token)
        kh_wipe_free(a->admin_token, strlen(a->admin_token));
    kh_proxy_list_free(&a->proxy);
    kh_jwt_auth_free(&a->jwt);
    free(a);
    *pa = NULL;
}

kh_err kh_authn_set_admin_token(kh_authn *a, const char *token)
{
    if (a->admin_token)
        kh_wipe_free(a->admin_token, strlen(a->admin_token));
    a->admin_token = NULL;
    if (!token || !*token)
        return KH_OK;
    if (strlen(token) < ADMIN_TOKEN_MIN || strlen(token) >= KH_HTTP_AUTHZ_MAX - 8)
        return KH_ERR_CONFIG;
    a->admin_token = kh_xstrdup(token);
    return KH_OK;
}

bool kh_authn_has_admin_token(const kh_authn *a)
{
    return a && a->admin_token;
}

kh_err kh_authn_set_trusted_proxies(kh_authn *a, const char *list)
{
    kh_proxy_list_free(&a->proxy);
    if (!list || !*list)
        return KH_OK;
    return kh_proxy_list_parse(list, &a->proxy);
}

/* The credentials of "Bearer <credentials>", or NULL. */
static const char *bearer_of(const char *authorization)
{
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *p = authorization + 7;
    while (*p == ' ')
        p++;
    return *p ? p : NULL;
}

/* ---- API keys ----------------------------------------------------------- */

static kh_err apikey_identity(const kh_authn *a, const char *token, char out[KH_IDENTITY_MAX])
{
    if (!a || !a->store)
        return KH_ERR_AUTH;
    return kh_apikey_verify(a->store, token, out);
}

/* ---- JWT bearer tokens -------------------------------------------------- */

void kh_authn_set_jwt_take(kh_authn *a, kh_jwt_auth **jwt)
{
    kh_jwt_auth_free(&a->jwt);
    a->jwt = *jwt;
    *jwt = NULL;
}

/* Does the bearer credential have the compact JWS shape, exactly two
 * dots? API keys never do. *len excludes trailing spaces. */
static bool jwt_shaped(const char *t, size_t *len)
{
    size_t n = strlen(t), dots = 0;
    while (n > 0 && t[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < n; i++)
        dots += t[i] == '.';
    *len = n;
    return dots == 2;
}

static kh_err jwt_identity(const kh_authn *a, const char *tok, size_t len,
                           char out[KH_IDENTITY_MAX], const char **why)
{
    kh_jwt_reason r = KH_JWT_OK;
    if (!a || !a->jwt) {
        /* a token we cannot check must not fall back to single-user mode */
        *why = "JWT authentication is not configured on this server";
        return KH_ERR_AUTH;
    }
    kh_err err = kh_jwt_auth_check(a->jwt, tok, len, (int64_t)time(NULL), out, KH_IDENTITY_MAX, &r);
    if (err != KH_OK) {
        kh_info("HTTPS: JWT refused: %s", kh_jwt_reason_str(r));
        *why = kh_jwt_reason_str(r);
        return KH_ERR_AUTH;
    }
    return KH_OK;
}

/* ---- client certificates ------------------------------------------------ */

static kh_err tls_identity(const kh_http_request *req, char out[KH_IDENTITY_MAX])
{
    snprintf(out, KH_IDENTITY_MAX, "tls:%s", req->peer.principal);
    return KH_OK;
}

kh_err kh_authn_http_why(const kh_authn *a, const kh_http_request *req, char out[KH_IDENTITY_MAX],
                         const char **why)
{
    const char *ignored;
    size_t len;
    out[0] = '\0';
    if (!why)
        why = &ignored;
    *why = NULL;
    if (req->authorization_oversized) {
        *why = "Authorization header too long";
        return KH_ERR_AUTH;
    }
    if (req->authorization[0]) {
        const char *bearer = bearer_of(req->authorization);
        if (bearer && kh_apikey_shaped(bearer))
            return apikey_identity(a, bearer, out);
        if (bearer && jwt_shaped(bearer, &len))
            return jwt_identity(a, bearer, len, out, why);
        /* Credentials we cannot check are refused, not ignored: falling
         * back to the certificate or to single-user mode would hand the
         * request an identity it did not ask for. */
        *why = "unsupported Authorization header: expected an API key or a JWT bearer token";
        return KH_ERR_AUTH;
    }
    if (req->peer.principal[0])
        return tls_identity(req, out);
    return KH_OK; /* no credentials: single-user mode */
}

kh_err kh_authn_http(const kh_authn *a, const kh_http_request *req, char out[KH_IDENTITY_MAX])
{
    return kh_authn_http_why(a, req, out, NULL);
}

/* ---- identity to user --------------------------------------------------- */

kh_err kh_authn_who_why(const kh_service *svc, const kh_http_request *req, kh_who *out,
                        const char **why)
{
    char identity[KH_IDENTITY_MAX];
    kh_err err = kh_authn_http_why(svc->authn, req, identity, why);
    if (err != KH_OK)
        return err;
    if (!identity[0]) {
        memset(out, 0, sizeof(*out));
        snprintf(out->principal, sizeof(out->principal), "%s", KH_HTTP_DEFAULT_PRINCIPAL);
        return KH_OK;
    }
    return kh_who_resolve(svc->store, identity, out);
}

kh_err kh_authn_who(const kh_service *svc, const kh_http_request *req, kh_who *out)
{
    return kh_authn_who_why(svc, req, out, NULL);
}

/* ---- administration token and proxies ----------------------------------- */

bool kh_authn_is_admin_token(const kh_authn *a, const kh_http_request *req)
{
    if (!a || !a->admin_token)
        return false;
    const char *bearer = bearer_of(req->authorization);
    if (!bearer)
        return false;
    /* Compare digests, so that not even the token's length leaks. */
    uint8_t got[KH_SHA256_LEN], want[KH_SHA256_LEN];
    bool same = kh_sha256((const uint8_t *)bearer, strlen(bearer), got) == KH_OK &&
                kh_sha256((const uint8_t *)a->admin_token, strlen(a->admin_token), want) == KH_OK &&
                kh_ct_equal(got, sizeof(got), want, sizeof(want));
    kh_wipe(got, sizeof(got));
    kh_wipe(want, sizeof(want));
    return same;
}

void kh_authn_client_addr(const kh_authn *a, const kh_http_request *req, char *out, size_t n)
{
    kh_proxy_client_addr(a ? a->proxy : NULL, req->peer.addr, req->forwarded_for, out, n);
}

const char *kh_authn_client_proto(const kh_authn *a, const kh_http_request *req)
{
    if (a && kh_proxy_trusted(a->proxy, req->peer.addr) && req->forwarded_proto[0])
        return strcasecmp(req->forwarded_proto, "http") == 0 ? "http" : "https";
    return "https";
}
