/*
 * authn.c - the principal of an HTTPS request (proto/authn.h).
 */
#include "proto/authn.h"

#include "proto/http_routes.h"

#include <stdio.h>
#include <string.h>

struct kh_authn {
    int unused; /* settings arrive with identities (issue 4) */
};

kh_err kh_authn_http(const kh_authn *a, const kh_http_request *req, char out[KH_IDENTITY_MAX])
{
    (void)a;
    const char *p = req->peer.principal[0] ? req->peer.principal : KH_HTTP_DEFAULT_PRINCIPAL;
    snprintf(out, KH_IDENTITY_MAX, "%s", p);
    return KH_OK;
}
