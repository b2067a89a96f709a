/*
 * kes_server.c - the handler of the KES listener (port 7373 by default,
 * docs/kes.md): the KES routes and nothing else.
 *
 * net/ has already applied KES's TLS rules (a client certificate required,
 * accepted for its key; tls.c), so the principal is always the
 * certificate's identity; an Authorization header means nothing here, as
 * in KES. Routing and answers are kes.c's.
 */
#include "ops/audit.h"
#include "ops/kes_policy_db.h"
#include "ops/users.h"
#include "proto/kes.h"
#include "proto/kes_internal.h"

#include <stdio.h>
#include <time.h>

static bool route_cb(void *arg, const kh_http_request *req, kh_http_reply *r)
{
    (void)arg;
    if (!kh_kes_owns_path(req->path)) {
        r->label = "kes_unknown";
        kh_kes_fail(r, 404, KH_ERR_NOT_FOUND, "not found");
        return true;
    }
    return kh_kes_listener_route(req, r);
}

/* A certificate whose identity ("tls:<hex>", the same key hash as the
 * KES identity) belongs to a revoked user stops working here too, as on
 * every other listener (ops/users.h). Unmapped identities are KES's
 * business alone: their policy decides. A store failure refuses. */
static kh_err user_not_revoked(kh_service *svc, const char *principal)
{
    if (!svc || !svc->store || !principal[0])
        return KH_OK;
    char identity[KH_WHO_MAX];
    snprintf(identity, sizeof(identity), "tls:%s", principal);
    kh_who who;
    return kh_who_resolve(svc->store, identity, &who);
}

static void handle_cb(void *arg, const kh_http_request *req, kh_http_reply *r)
{
    const kh_kes_listener *l = arg;
    kh_err err = user_not_revoked(l->svc, req->peer.principal);
    if (err != KH_OK) {
        /* audited like a policy refusal: the identity, the path as object */
        kh_ctx ctx = {.principal = req->peer.principal,
                      .now = (int64_t)time(NULL),
                      .svc = l->svc,
                      .client_addr = req->peer.addr};
        (void)kh_audit_record(&ctx, "kes_request", req->path, err);
        kh_kes_fail(r, err == KH_ERR_AUTH ? 401 : kh_err_http_status(err), err,
                    err == KH_ERR_AUTH ? "not authorized: identity revoked" : kh_strerror(err));
        return;
    }
    /* changes made through the admin API of another node (a failure is
     * logged; the current set goes on serving) */
    kh_kes_policy_db_refresh(l->policy_db, false);
    kh_kes_listener_handle(l->svc, l->policies, req->peer.principal, req, r);
}

static void error_cb(void *arg, kh_err err, kh_http_reply *r)
{
    (void)arg;
    kh_kes_fail(r, kh_err_http_status(err), err, kh_strerror(err));
}

kh_http_handler kh_kes_listener_handler(kh_kes_listener *l)
{
    kh_http_handler h = {route_cb, handle_cb, error_cb, l};
    return h;
}
