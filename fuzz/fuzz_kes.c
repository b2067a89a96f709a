/*
 * fuzz_kes.c - libFuzzer target for the KES API: routing, policies, JSON
 * and base64 bodies, down to the key operations on a real SQLite file, on
 * both listeners (the HTTPS one without policies, the KES one with).
 *
 * Input: byte 0 picks the method (low 3 bits), the listener (bit 3) and
 * the caller (bits 4-5: the admin, an identity with a policy, one
 * without, the namespace's name itself); then the path up to the first
 * '\n'; the rest is the body.
 *
 * Properties: every answer has a status in 200..599 and, unless it is a
 * stream or plain text, a body that is empty or JSON; base64 that decodes
 * re-encodes to itself.
 */
#include "ops/kes_ops.h"
#include "ops/kes_policy.h"
#include "ops/ops.h"
#include "proto/kes.h"
#include "proto/kmip_json.h"
#include "service.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define APP "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NOBODY "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static kh_service svc;
static kh_kes_policies *pol;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kh_fuzz_service("kes", &svc);
    pol = kh_kes_policies_new();
    char *allow[] = {"/v1/key/*", "/v1/status", "/v1/identity/*", "/v1/policy/*", "/v1/api"};
    char *deny[] = {"/v1/key/delete/*", "/v1/key/decrypt/sealed"};
    kh_kes_policy app = {.name = "app", .allow = allow, .n_allow = 5, .deny = deny, .n_deny = 2};
    if (kh_kes_policy_put(pol, &app) != KH_OK || kh_kes_identity_assign(pol, APP, "app") != KH_OK ||
        kh_kes_admin_set(pol, ADMIN) != KH_OK)
        abort();
    return 0;
}

static void check_b64(const uint8_t *data, size_t size)
{
    size_t n = size < 4096 ? size : 4096;
    uint8_t *out = malloc(n / 4 * 3 + 1);
    size_t len = 0;
    if (kh_kes_b64_decode((const char *)data, n, out, &len)) {
        kh_buf b = {0};
        kh_kes_b64_append(&b, out, len);
        if (b.len != n || (n && memcmp(b.data, data, n) != 0))
            abort(); /* canonical base64 re-encodes to itself */
        kh_buf_free(&b);
    }
    free(out);
}

static void check_reply(const kh_http_reply *r)
{
    int status = r->status ? r->status : 500;
    if (status < 200 || status > 599)
        abort();
    if (r->stream || r->content_type || r->body.len == 0)
        return;
    json_t *j = kh_kmip_json_parse((const char *)r->body.data, r->body.len);
    if (!j)
        abort(); /* answers are JSON */
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const kh_http_method methods[] = {KH_HTTP_GET,    KH_HTTP_PUT,    KH_HTTP_POST,
                                             KH_HTTP_DELETE, KH_HTTP_HEAD,   KH_HTTP_PATCH,
                                             KH_HTTP_OTHER,  KH_HTTP_OPTIONS};
    static const char *callers[] = {ADMIN, APP, NOBODY, KH_KES_OWNER};
    check_b64(data, size);
    if (size < 2)
        return 0;
    kh_http_request *req = calloc(1, sizeof(*req));
    kh_http_reply r = {0};
    req->method = methods[data[0] & 7];
    bool listener = data[0] & 8;
    const char *caller = callers[(data[0] >> 4) & 3];
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    size_t plen = (size_t)((nl ? nl : end) - p);
    if (plen < sizeof(req->path) && !memchr(p, '\0', plen)) {
        memcpy(req->path, p, plen);
        snprintf(req->peer.addr, sizeof(req->peer.addr), "127.0.0.1:1");
        snprintf(req->peer.principal, sizeof(req->peer.principal), "%s", caller);
        if (nl)
            kh_buf_append(&req->body, nl + 1, (size_t)(end - nl - 1));
        if (kh_kes_owns_path(req->path)) {
            bool done = listener ? kh_kes_listener_route(req, &r) : kh_kes_route(req, &r);
            if (!done && listener)
                kh_kes_listener_handle(&svc, pol, caller, req, &r);
            else if (!done)
                kh_kes_handle(&svc, caller, req, &r);
            check_reply(&r);
        }
    }
    kh_buf_free(&r.body);
    kh_buf_free(&req->body);
    free(req);
    return 0;
}
