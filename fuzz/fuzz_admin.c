/*
 * fuzz_admin.c - libFuzzer target for the admin API and the parsers of
 * HTTPS authentication: the whole /v1/admin request path (authorization,
 * path splitting and percent-decoding, JSON bodies, ops, SQLite), API key
 * tokens and X-Forwarded-For.
 *
 * Input: byte 0 picks the method, byte 1 the credentials (the
 * administration token, none, or the input's own Authorization line);
 * then "path\n[authorization\n]body". Properties: every answer has a
 * status in 200..599 and a JSON object body; nothing crashes or leaks.
 */
#include "net/http.h"
#include "ops/ops.h"
#include "ops/users.h"
#include "proto/admin.h"
#include "proto/authn.h"
#include "proto/kmip_json.h"
#include "proto/proxy.h"
#include "service.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN "fuzzing-administration-token"

static kh_service svc;
static kh_authn *authn;
static kh_proxy_list *proxies;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kh_fuzz_service("admin", &svc);
    if (kh_authn_new(svc.store, &authn) != KH_OK ||
        kh_authn_set_admin_token(authn, TOKEN) != KH_OK ||
        kh_authn_set_trusted_proxies(authn, "127.0.0.0/8, ::1") != KH_OK ||
        kh_proxy_list_parse("10.0.0.0/8, 127.0.0.1, fd00::/8", &proxies) != KH_OK)
        abort();
    svc.authn = authn;
    return 0;
}

/* Copy the next line of data (up to '\n' or the end) into out. */
static size_t take_line(const uint8_t *data, size_t size, char *out, size_t n)
{
    size_t len = 0;
    while (len < size && data[len] != '\n')
        len++;
    size_t k = len < n - 1 ? len : n - 1;
    memcpy(out, data, k);
    out[k] = '\0';
    return len < size ? len + 1 : len;
}

static void check_parsers(const char *line)
{
    char identity[KH_WHO_MAX], addr[64];
    (void)kh_apikey_verify(svc.store, line, identity);
    (void)kh_identity_valid(line);
    kh_proxy_client_addr(proxies, "10.1.2.3:443", line, addr, sizeof(addr));
    kh_proxy_list *l = NULL;
    if (kh_proxy_list_parse(line, &l) == KH_OK)
        kh_proxy_list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const kh_http_method methods[] = {KH_HTTP_GET, KH_HTTP_POST, KH_HTTP_PATCH,
                                             KH_HTTP_DELETE, KH_HTTP_PUT};
    if (size < 2)
        return 0;
    kh_http_request *req = calloc(1, sizeof(*req));
    req->method = methods[data[0] % 5];
    int cred = data[1] % 3;
    data += 2;
    size -= 2;
    char path[KH_HTTP_PATH_MAX - 16];
    size_t used = take_line(data, size, path, sizeof(path));
    snprintf(req->path, sizeof(req->path), "/v1/admin/%s", path);
    data += used;
    size -= used;
    if (cred == 0) {
        snprintf(req->authorization, sizeof(req->authorization), "Bearer %s", TOKEN);
    } else if (cred == 2) {
        used = take_line(data, size, req->authorization, sizeof(req->authorization));
        check_parsers(req->authorization);
        data += used;
        size -= used;
    }
    snprintf(req->peer.addr, sizeof(req->peer.addr), "127.0.0.1:1234");
    kh_buf_append(&req->body, data, size);
    kh_http_reply r = {0};
    kh_admin_handle(&svc, req, &r);
    json_t *j = kh_kmip_json_parse((const char *)r.body.data, r.body.len);
    if (r.status < 200 || r.status > 599 || !json_is_object(j))
        abort();
    json_decref(j);
    kh_buf_free(&r.body);
    kh_buf_free(&req->body);
    free(req);
    return 0;
}
