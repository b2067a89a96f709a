/*
 * authn.c - the principal of an HTTPS request (proto/authn.h).
 */
#include "proto/authn.h"

#include "common/log.h"
#include "common/mem.h"
#include "proto/http_routes.h"
#include "proto/jwt_auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct kh_authn {
    kh_jwt_auth *jwt; /* NULL = no JWT issuer configured */
};

kh_err kh_authn_new(kh_authn **out)
{
    if (!out)
        return KH_ERR_INVALID_ARG;
    *out = kh_xcalloc(1, sizeof(**out));
    return KH_OK;
}

void kh_authn_free(kh_authn **a)
{
    if (!a || !*a)
        return;
    kh_jwt_auth_free(&(*a)->jwt);
    free(*a);
    *a = NULL;
}

/* ---- JWT bearer tokens ----------------------------------------------------- */

void kh_authn_set_jwt_take(kh_authn *a, kh_jwt_auth **jwt)
{
    kh_jwt_auth_free(&a->jwt);
    a->jwt = *jwt;
    *jwt = NULL;
}

/* The token of "Bearer <jwt>" (scheme case-insensitive, RFC 7235 2.1) when
 * it has the compact JWS shape, exactly two dots; API keys never do. */
static bool bearer_jwt(const char *authz, const char **tok, size_t *len)
{
    if (strncasecmp(authz, "Bearer ", 7) != 0)
        return false;
    const char *t = authz + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t), dots = 0;
    while (n > 0 && t[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < n; i++)
        dots += t[i] == '.';
    if (dots != 2)
        return false;
    *tok = t;
    *len = n;
    return true;
}

static kh_err jwt_principal(const kh_authn *a, const char *tok, size_t len,
                            char out[KH_IDENTITY_MAX], const char **why)
{
    kh_jwt_reason r = KH_JWT_OK;
    if (!a || !a->jwt) {
        /* a token we cannot check must not fall back to single-user mode */
        if (why)
            *why = "JWT authentication is not configured on this server";
        return KH_ERR_AUTH;
    }
    kh_err err = kh_jwt_auth_check(a->jwt, tok, len, (int64_t)time(NULL), out, KH_IDENTITY_MAX, &r);
    if (err != KH_OK) {
        kh_info("HTTPS: JWT refused: %s", kh_jwt_reason_str(r));
        if (why)
            *why = kh_jwt_reason_str(r);
        return KH_ERR_AUTH;
    }
    return KH_OK;
}

/* ---- the one entry point ------------------------------------------------------- */

kh_err kh_authn_http_why(const kh_authn *a, const kh_http_request *req, char out[KH_IDENTITY_MAX],
                         const char **why)
{
    const char *tok;
    size_t len;
    if (why)
        *why = NULL;
    if (bearer_jwt(req->authorization, &tok, &len))
        return jwt_principal(a, tok, len, out, why);
    const char *p = req->peer.principal[0] ? req->peer.principal : KH_HTTP_DEFAULT_PRINCIPAL;
    snprintf(out, KH_IDENTITY_MAX, "%s", p);
    return KH_OK;
}

kh_err kh_authn_http(const kh_authn *a, const kh_http_request *req, char out[KH_IDENTITY_MAX])
{
    return kh_authn_http_why(a, req, out, NULL);
}
