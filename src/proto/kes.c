/*
 * kes.c - the KES API routes: request bodies in, replies out.
 *
 * MinIO compares status codes and messages exactly, so every failure a
 * KES client can see is spelled here once (kes_fail) with KES's own text.
 * What a route means is in ops/kes_ops.h; this file only routes, checks
 * methods and names, decodes JSON and base64, and encodes answers. JSON
 * bodies are parsed by kh_kmip_json_parse (its allocator wipes what it
 * frees: a body may carry plaintext or a key to import) and answers are
 * written by hand into the reply's kh_buf, which is wiped too.
 */
#include "proto/kes.h"

#include "common/log.h"
#include "common/mem.h"
#include "common/metrics.h"
#include "ops/audit.h"
#include "ops/kes_grants.h"
#include "ops/kes_ops.h"
#include "ops/kes_policy.h"
#include "proto/authn.h"
#include "proto/http_routes.h"
#include "proto/kes_internal.h"
#include "proto/kmip_consts.h"
#include "proto/kmip_json.h"

#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- routes ----------------------------------------------------------- */

typedef enum route_id {
    R_VERSION,
    R_READY,
    R_STATUS,
    R_API,
    R_METRICS,
    R_CREATE,
    R_IMPORT,
    R_DESCRIBE,
    R_LIST,
    R_DELETE,
    R_GENERATE,
    R_ENCRYPT,
    R_DECRYPT,
    R_HMAC,
    R_SELF,
    R_IDENTITY,
    R_IDENTITY_LIST,
    R_POLICY,
    R_POLICY_READ,
    R_POLICY_LIST,
    R_LOG_AUDIT,
    R_LOG_ERROR,
} route_id;

typedef enum arg_kind {
    ARG_NONE,    /* exact path */
    ARG_NAME,    /* a key name follows the prefix */
    ARG_PATTERN, /* a list pattern follows (may be empty) */
    ARG_ANY,     /* anything follows (identities, policies) */
} arg_kind;

typedef struct kes_route {
    const char *path; /* the whole path, or the prefix before the argument */
    kh_http_method method;
    arg_kind arg;
    bool worker;
    route_id id;
    const char *label; /* metrics */
} kes_route;

/* Order matters only where one path is a prefix of another. */
static const kes_route routes[] = {
    {"/version", KH_HTTP_GET, ARG_NONE, false, R_VERSION, "kes_version"},
    {"/v1/ready", KH_HTTP_GET, ARG_NONE, true, R_READY, "kes_ready"},
    {"/v1/status", KH_HTTP_GET, ARG_NONE, true, R_STATUS, "kes_status"},
    {"/v1/api", KH_HTTP_GET, ARG_NONE, false, R_API, "kes_api"},
    {"/v1/metrics", KH_HTTP_GET, ARG_NONE, false, R_METRICS, "kes_metrics"},
    {"/v1/key/create/", KH_HTTP_PUT, ARG_NAME, true, R_CREATE, "kes_key_create"},
    {"/v1/key/import/", KH_HTTP_PUT, ARG_NAME, true, R_IMPORT, "kes_key_import"},
    {"/v1/key/describe/", KH_HTTP_GET, ARG_NAME, true, R_DESCRIBE, "kes_key_describe"},
    {"/v1/key/list/", KH_HTTP_GET, ARG_PATTERN, true, R_LIST, "kes_key_list"},
    {"/v1/key/list", KH_HTTP_GET, ARG_NONE, true, R_LIST, "kes_key_list"},
    {"/v1/key/delete/", KH_HTTP_DELETE, ARG_NAME, true, R_DELETE, "kes_key_delete"},
    {"/v1/key/generate/", KH_HTTP_PUT, ARG_NAME, true, R_GENERATE, "kes_key_generate"},
    {"/v1/key/encrypt/", KH_HTTP_PUT, ARG_NAME, true, R_ENCRYPT, "kes_key_encrypt"},
    {"/v1/key/decrypt/", KH_HTTP_PUT, ARG_NAME, true, R_DECRYPT, "kes_key_decrypt"},
    {"/v1/key/hmac/", KH_HTTP_PUT, ARG_NAME, true, R_HMAC, "kes_key_hmac"},
    {"/v1/identity/self/describe", KH_HTTP_GET, ARG_NONE, false, R_SELF, "kes_identity"},
    {"/v1/identity/describe/", KH_HTTP_GET, ARG_ANY, false, R_IDENTITY, "kes_identity"},
    {"/v1/identity/list/", KH_HTTP_GET, ARG_ANY, false, R_IDENTITY_LIST, "kes_identity"},
    {"/v1/identity/list", KH_HTTP_GET, ARG_NONE, false, R_IDENTITY_LIST, "kes_identity"},
    {"/v1/policy/describe/", KH_HTTP_GET, ARG_ANY, false, R_POLICY, "kes_policy"},
    {"/v1/policy/read/", KH_HTTP_GET, ARG_ANY, false, R_POLICY_READ, "kes_policy"},
    {"/v1/policy/list/", KH_HTTP_GET, ARG_ANY, false, R_POLICY_LIST, "kes_policy"},
    {"/v1/policy/list", KH_HTTP_GET, ARG_NONE, false, R_POLICY_LIST, "kes_policy"},
    {"/v1/log/audit", KH_HTTP_GET, ARG_NONE, true, R_LOG_AUDIT, "kes_log"},
    {"/v1/log/error", KH_HTTP_GET, ARG_NONE, true, R_LOG_ERROR, "kes_log"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* The route of path and, for prefix routes, where its argument starts. */
static const kes_route *find_route(const char *path, const char **arg)
{
    for (size_t i = 0; i < NROUTES; i++) {
        const kes_route *ro = &routes[i];
        size_t n = strlen(ro->path);
        if (ro->arg == ARG_NONE ? strcmp(path, ro->path) == 0 : strncmp(path, ro->path, n) == 0) {
            *arg = path + (ro->arg == ARG_NONE ? strlen(path) : n);
            return ro;
        }
    }
    return NULL;
}

bool kh_kes_owns_path(const char *path)
{
    if (strcmp(path, "/version") == 0)
        return true;
    return strncmp(path, "/v1/", 4) == 0 && strncmp(path, "/v1/admin", 9) != 0;
}

static const char *method_name(kh_http_method m)
{
    switch (m) {
    case KH_HTTP_GET:
        return "GET";
    case KH_HTTP_HEAD:
        return "HEAD";
    case KH_HTTP_POST:
        return "POST";
    case KH_HTTP_PUT:
        return "PUT";
    case KH_HTTP_DELETE:
        return "DELETE";
    case KH_HTTP_PATCH:
        return "PATCH";
    case KH_HTTP_OPTIONS:
        return "OPTIONS";
    default:
        return "?";
    }
}

/* ---- replies ---------------------------------------------------------- */

static void append_str(kh_buf *out, const char *s)
{
    kh_json_append_string(out, s, strlen(s));
}

static void kes_fail(kh_http_reply *r, int status, kh_err err, const char *msg)
{
    kh_buf_clear(&r->body);
    r->status = status;
    r->result = err;
    r->content_type = NULL;
    kh_buf_append(&r->body, "{\"message\":", 11);
    append_str(&r->body, msg);
    kh_buf_append_u8(&r->body, '}');
}

/* A failure of a key operation, in KES's words where KES has them. */
static void fail_err(kh_http_reply *r, kh_err err)
{
    switch (err) {
    case KH_ERR_NOT_FOUND:
    case KH_ERR_NO_KEY_VALUE:
        kes_fail(r, 404, err, "key does not exist");
        break;
    case KH_ERR_EXISTS:
        kes_fail(r, 400, err, "key already exists");
        break;
    case KH_ERR_PERMISSION:
        kes_fail(r, 403, err, "not authorized: insufficient permissions");
        break;
    default:
        kes_fail(r, kh_err_http_status(err), err, kh_strerror(err));
    }
}

static void bad_name(kh_http_reply *r, const char *name)
{
    char msg[KH_HTTP_PATH_MAX + 80];
    snprintf(msg, sizeof(msg), "key name '%s' is empty, too long or contains invalid characters",
             name);
    kes_fail(r, 400, KH_ERR_INVALID_ARG, msg);
}

static void bad_body(kh_http_reply *r)
{
    kes_fail(r, 400, KH_ERR_DECODE, "invalid request body");
}

static void ok_json(kh_http_reply *r)
{
    r->status = 200;
    r->result = KH_OK;
}

void kh_kes_fail(kh_http_reply *r, int status, kh_err err, const char *msg)
{
    kes_fail(r, status, err, msg);
}

void kh_kes_ok(kh_http_reply *r)
{
    ok_json(r);
}

void kh_kes_append_str(kh_buf *out, const char *s)
{
    append_str(out, s);
}

/* ---- base64 ----------------------------------------------------------- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void kh_kes_b64_append(kh_buf *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {b64[(v >> 18) & 63], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        kh_buf_append(out, q, 4);
    }
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

bool kh_kes_b64_decode(const char *s, size_t len, uint8_t *out, size_t *out_len)
{
    size_t o = 0;
    if (len % 4)
        return false;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        size_t pad = 0;
        for (int j = 0; j < 4; j++) {
            if (s[i + j] == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64_val(s[i + j])) < 0) {
                return false;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        /* canonical: the bits dropped by padding must be zero */
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            return false;
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    *out_len = o;
    return true;
}

/* ---- request bodies --------------------------------------------------- */

/* Bytes decoded from a base64 JSON field; wiped when freed. */
typedef struct field {
    uint8_t *p;
    size_t n;
} field;

static void field_free(field *f)
{
    kh_wipe_free(f->p, f->n);
    f->p = NULL;
    f->n = 0;
}

/* The body as a JSON object; an empty body is {} (Go clients may send
 * none). NULL when it is not an object. */
static json_t *parse_body(const kh_http_request *req)
{
    if (req->body.len == 0)
        return json_object();
    json_t *j = kh_kmip_json_parse((const char *)req->body.data, req->body.len);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Field key of obj: absent or null = empty (as Go decodes a []byte). */
static bool get_b64(const json_t *obj, const char *key, field *f)
{
    const json_t *v = json_object_get(obj, key);
    f->p = NULL;
    f->n = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    size_t len = json_string_length(v);
    size_t cap = len / 4 * 3 + 1;
    f->p = kh_xmalloc(cap);
    if (!kh_kes_b64_decode(json_string_value(v), len, f->p, &f->n)) {
        /* what was decoded before the bad group is the client's secret too */
        kh_wipe_free(f->p, cap);
        f->p = NULL;
        f->n = 0;
        return false;
    }
    return true;
}

/* ---- I/O-thread routes ------------------------------------------------ */

static void reply_api(kh_http_reply *r)
{
    kh_buf_append_u8(&r->body, '[');
    for (size_t i = 0; i < NROUTES; i++) {
        if (i)
            kh_buf_append_u8(&r->body, ',');
        char s[160];
        int n = snprintf(s, sizeof(s),
                         "{\"method\":\"%s\",\"path\":\"%s\",\"max_body\":%d,"
                         "\"timeout\":15}",
                         method_name(routes[i].method), routes[i].path,
                         routes[i].method == KH_HTTP_PUT ? 1 << 20 : 0);
        kh_buf_append(&r->body, s, n > 0 && (size_t)n < sizeof(s) ? (size_t)n : 0);
    }
    kh_buf_append_u8(&r->body, ']');
    ok_json(r);
}

/* The routes that need neither store nor keys; on a worker once the
 * caller is known (and, on the KES listener, its policy checked), but
 * /version, answered on the I/O thread. */
static void answer_local(const kes_route *ro, const char *arg, const kh_kes_policies *pol,
                         const char *principal, const kh_http_request *req, kh_http_reply *r)
{
    switch (ro->id) {
    case R_VERSION:
        kh_buf_append(&r->body, "{\"version\":", 11);
        append_str(&r->body, KH_VERSION);
        kh_buf_append(&r->body, ",\"commit\":\"\"}", 13);
        ok_json(r);
        break;
    case R_API:
        reply_api(r);
        break;
    case R_METRICS:
        r->status = 200;
        r->content_type = "text/plain; version=0.0.4; charset=utf-8";
        kh_metrics_render(&req->gauges, &r->body);
        break;
    case R_SELF:
        kh_kes_reply_self(pol, principal, r);
        break;
    case R_IDENTITY:
        kh_kes_reply_identity(pol, principal, arg, r);
        break;
    case R_IDENTITY_LIST:
        kh_kes_reply_identity_list(pol, arg, r);
        break;
    case R_POLICY:
    case R_POLICY_READ:
        kh_kes_reply_policy(pol, arg, ro->id == R_POLICY_READ, r);
        break;
    case R_POLICY_LIST:
        kh_kes_reply_policy_list(pol, arg, r);
        break;
    default:
        kes_fail(r, 500, KH_ERR_INTERNAL, kh_strerror(KH_ERR_INTERNAL));
    }
}

/* Method and name checks: true = r holds the refusal. */
static bool refuse(const kes_route *ro, const char *arg, const kh_http_request *req,
                   kh_http_reply *r)
{
    bool put = ro->method == KH_HTTP_PUT && req->method == KH_HTTP_POST;
    if (req->method != ro->method && !put) {
        char msg[96];
        snprintf(msg, sizeof(msg), "received method '%s' expected '%s'", method_name(req->method),
                 method_name(ro->method));
        kes_fail(r, 405, KH_ERR_UNSUPPORTED, msg);
        r->allow = ro->method == KH_HTTP_PUT ? "PUT, POST" : method_name(ro->method);
        r->accept = method_name(ro->method); /* what KES itself sends */
        return true;
    }
    if ((ro->arg == ARG_NAME && !kh_kes_name_valid(arg)) ||
        (ro->arg == ARG_PATTERN && !kh_kes_pattern_valid(arg))) {
        bad_name(r, arg);
        return true;
    }
    return false;
}

static bool route(bool kes_listener, const kh_http_request *req, kh_http_reply *r)
{
    const char *arg = NULL;
    const kes_route *ro = find_route(req->path, &arg);
    if (!ro) {
        r->label = "kes_unknown";
        kes_fail(r, 501, KH_ERR_UNSUPPORTED_OP, "not implemented");
        return true;
    }
    r->label = ro->label;
    if (refuse(ro, arg, req, r))
        return true;
    /* Only /version answers before authentication: the others say who the
     * caller is or what the server holds, and a bad credential must get
     * its 401 there too (on a worker: proto/authn.h). */
    (void)kes_listener;
    if (ro->id == R_VERSION) {
        answer_local(ro, arg, NULL, KH_HTTP_DEFAULT_PRINCIPAL, req, r);
        return true;
    }
    return false;
}

bool kh_kes_route(const kh_http_request *req, kh_http_reply *r)
{
    return route(false, req, r);
}

bool kh_kes_listener_route(const kh_http_request *req, kh_http_reply *r)
{
    return route(true, req, r);
}

/* ---- worker routes ---------------------------------------------------- */

static int64_t start_ns;

__attribute__((constructor)) static void note_start(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    start_ns = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static const char *arch_name(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#else
    return "unknown";
#endif
}

static void reply_status(kh_service *svc, kh_http_reply *r)
{
    int64_t micros = 0;
    bool up = kh_kes_store_ping(svc, &micros) == KH_OK;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    int64_t now = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
    /* uptime as Go's time.Duration (nanoseconds), rounded to seconds */
    int64_t uptime = (now - start_ns + 500000000) / 1000000000 * 1000000000;
    cpu_set_t set;
    int used = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
    struct mallinfo2 mi = mallinfo2();
    char s[512];
    int n = snprintf(s, sizeof(s),
                     "{\"version\":\"%s\",\"os\":\"linux\",\"arch\":\"%s\",\"uptime\":%lld,"
                     "\"num_cpu\":%ld,\"num_cpu_used\":%d,\"mem_heap_used\":%zu,"
                     "\"mem_stack_used\":0,\"keystore_latency\":%lld%s}",
                     KH_VERSION, arch_name(), (long long)uptime, sysconf(_SC_NPROCESSORS_ONLN),
                     used, mi.uordblks, (long long)(micros / 1000),
                     up ? "" : ",\"keystore_unreachable\":true,\"keystore_unavailable\":true");
    kh_buf_append(&r->body, s, n > 0 && (size_t)n < sizeof(s) ? (size_t)n : 0);
    ok_json(r);
}

static void reply_ready(kh_service *svc, kh_http_reply *r)
{
    int64_t micros = 0;
    if (kh_kes_store_ping(svc, &micros) != KH_OK) {
        kes_fail(r, 503, KH_ERR_STORE, "key store is not reachable");
        return;
    }
    r->status = 200;
    r->result = KH_OK;
}

static void reply_list(kh_ctx *ctx, const char *pattern, kh_http_reply *r)
{
    char **names = NULL;
    size_t n = 0;
    kh_err err = kh_kes_key_list(ctx, pattern, &names, &n);
    if (err != KH_OK) {
        fail_err(r, err);
        return;
    }
    kh_buf_append(&r->body, "{\"names\":[", 10);
    for (size_t i = 0; i < n; i++) {
        if (i)
            kh_buf_append_u8(&r->body, ',');
        append_str(&r->body, names[i]);
        free(names[i]);
    }
    free(names);
    kh_buf_append(&r->body, "],\"continue_at\":\"\"}", 19);
    ok_json(r);
}

static const char *algorithm_name(const kh_kes_key *k, char *buf, size_t len)
{
    if (k->alg == KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20_POLY1305 ||
        k->alg == KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20)
        return "ChaCha20";
    if (k->alg == KH_CRYPTOGRAPHIC_ALGORITHM_AES) {
        snprintf(buf, len, "AES%d", (int)k->bits);
        return buf;
    }
    return "unknown";
}

static void reply_describe(const char *name, const kh_kes_key *k, kh_http_reply *r)
{
    char alg[16], when[32];
    time_t t = (time_t)k->created_at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    kh_buf_append(&r->body, "{\"name\":", 8);
    append_str(&r->body, name);
    kh_buf_append(&r->body, ",\"algorithm\":", 13);
    append_str(&r->body, algorithm_name(k, alg, sizeof(alg)));
    kh_buf_append(&r->body, ",\"created_at\":", 14);
    append_str(&r->body, when);
    kh_buf_append(&r->body, ",\"created_by\":", 14);
    append_str(&r->body, k->created_by ? k->created_by : k->owner);
    kh_buf_append_u8(&r->body, '}');
    ok_json(r);
}

static void b64_member(kh_buf *out, const char *key, const uint8_t *p, size_t n)
{
    append_str(out, key);
    kh_buf_append(out, ":\"", 2);
    kh_kes_b64_append(out, p, n);
    kh_buf_append_u8(out, '"');
}

/* import: {"key": base64 of 32 bytes, "cipher": "AES256" | "ChaCha20"} */
static kh_err do_import(kh_ctx *ctx, const char *by, const char *name, const json_t *body,
                        kh_kes_key *k, kh_http_reply *r)
{
    const char *cipher = json_string_value(json_object_get(body, "cipher"));
    uint32_t alg = 0;
    if (cipher && strcmp(cipher, "AES256") == 0)
        alg = KH_CRYPTOGRAPHIC_ALGORITHM_AES;
    else if (cipher && strcmp(cipher, "ChaCha20") == 0)
        alg = KH_CRYPTOGRAPHIC_ALGORITHM_CHACHA20_POLY1305;
    field key;
    if (!get_b64(body, "key", &key)) {
        bad_body(r);
        return KH_ERR_DECODE;
    }
    if (!alg || key.n != 32) {
        field_free(&key);
        kes_fail(r, 400, KH_ERR_INVALID_FIELD,
                 alg ? "invalid key size" : "invalid cipher: expected AES256 or ChaCha20");
        return KH_ERR_INVALID_FIELD;
    }
    kh_secbuf *material = kh_secbuf_dup(key.p, key.n);
    field_free(&key);
    kh_err err = kh_kes_key_create_by(ctx, by, name, alg, material, k);
    kh_secbuf_free(&material);
    if (err != KH_OK)
        fail_err(r, err);
    else
        ok_json(r);
    return err;
}

/* generate, encrypt, decrypt, hmac on the resolved key k. */
static kh_err do_data(kh_ctx *ctx, route_id id, const kh_kes_key *k, const json_t *body,
                      kh_http_reply *r)
{
    field in = {0}, context = {0};
    const char *in_key = id == R_DECRYPT ? "ciphertext" : id == R_HMAC ? "message" : "plaintext";
    if ((id != R_GENERATE && !get_b64(body, in_key, &in)) ||
        (id != R_HMAC && !get_b64(body, "context", &context))) {
        field_free(&in);
        bad_body(r);
        return KH_ERR_DECODE;
    }
    kh_err err;
    kh_buf *out = &r->body;
    uint8_t *bytes = NULL;
    size_t len = 0;
    kh_buf_append_u8(out, '{');
    if (id == R_GENERATE) {
        kh_secbuf *dek = NULL;
        err = kh_kes_generate(ctx, k, context.p, context.n, &dek, &bytes, &len);
        if (err == KH_OK) {
            b64_member(out, "plaintext", dek->data, dek->len);
            kh_buf_append_u8(out, ',');
            b64_member(out, "ciphertext", bytes, len);
        }
        kh_secbuf_free(&dek);
    } else if (id == R_ENCRYPT) {
        err = kh_kes_encrypt(ctx, k, in.p, in.n, context.p, context.n, &bytes, &len);
        if (err == KH_OK)
            b64_member(out, "ciphertext", bytes, len);
    } else if (id == R_DECRYPT) {
        err = kh_kes_decrypt(ctx, k, in.p, in.n, context.p, context.n, &bytes, &len);
        if (err == KH_OK)
            b64_member(out, "plaintext", bytes, len);
    } else {
        uint8_t mac[KH_KES_HMAC_LEN];
        err = kh_kes_hmac(ctx, k, in.p, in.n, mac);
        if (err == KH_OK)
            b64_member(out, "hmac", mac, sizeof(mac));
        kh_wipe(mac, sizeof(mac));
    }
    kh_buf_append_u8(out, '}');
    kh_wipe_free(bytes, len);
    field_free(&in);
    field_free(&context);
    if (err == KH_ERR_CRYPTO && id == R_DECRYPT)
        kes_fail(r, 400, err, "decryption failed: ciphertext is not authentic");
    else if (err != KH_OK)
        fail_err(r, err);
    else
        ok_json(r);
    return err;
}

/* One key route on a parsed body; answers r itself. */
static kh_err key_op(kh_ctx *ctx, const char *by, route_id id, const char *name, const json_t *body,
                     kh_kes_key *k, kh_http_reply *r)
{
    kh_err err;
    if (id == R_IMPORT)
        return do_import(ctx, by, name, body, k, r);
    if (id == R_CREATE) {
        err = kh_kes_key_create_by(ctx, by, name, KH_CRYPTOGRAPHIC_ALGORITHM_AES, NULL, k);
    } else if ((err = kh_kes_key_find(ctx, name, k)) != KH_OK) {
        /* answered below */
    } else if (id == R_DESCRIBE) {
        reply_describe(name, k, r);
        return KH_OK;
    } else if (id != R_DELETE) {
        return do_data(ctx, id, k, body, r);
    } else {
        err = kh_kes_key_delete(ctx, k);
    }
    if (err == KH_OK)
        ok_json(r);
    else
        fail_err(r, err);
    return err;
}

/* The key routes: audited like every KMIP operation, under the caller's
 * name (on the KES listener ctx acts as the KES owner, docs/kes.md). */
static void key_route(kh_ctx *ctx, const kh_kes_policies *pol, const char *caller,
                      const kes_route *ro, const char *name, const kh_http_request *req,
                      kh_http_reply *r)
{
    kh_kes_key k = {0};
    kh_err err = KH_ERR_DECODE;
    bool wants_body = ro->id != R_CREATE && ro->id != R_DESCRIBE && ro->id != R_DELETE;
    json_t *body = wants_body ? parse_body(req) : NULL;
    kh_ctx audit = *ctx;
    audit.principal = caller;
    kh_audit_pending pending; /* a Delete's write carries its row (ops/audit.h) */
    kh_audit_prepare(&audit, &pending, ro->label, NULL);
    ctx->audit = &pending;
    if (wants_body && !body)
        bad_body(r);
    else
        err = key_op(ctx, caller, ro->id, name, body, &k, r);
    ctx->audit = NULL;
    /* a new key of the namespace: its KMIP grants follow the policies */
    if (err == KH_OK && pol && (ro->id == R_CREATE || ro->id == R_IMPORT) &&
        kh_kes_grants_sync_key(ctx->svc, pol, k.uid, name) != KH_OK)
        kh_warn("kes: cannot set the grants of key %s from the policies", k.uid);
    (void)kh_audit_finish(&audit, &pending, ro->label, k.uid ? k.uid : "", err);
    json_decref(body);
    kh_kes_key_clear(&k);
}

/* KES listener: the admin passes; /v1/identity/self/describe needs only an
 * identity, as in KES; everything else the caller's policy. A refusal is
 * audited with the path as its object. */
static bool policy_allows(kh_service *svc, const kh_kes_policies *pol, const kes_route *ro,
                          const char *caller, const kh_http_request *req, kh_http_reply *r)
{
    if (ro->id == R_SELF || kh_kes_policy_check(pol, caller, req->path) == KH_OK)
        return true;
    kh_ctx ctx = {
        .principal = caller, .now = (int64_t)time(NULL), .svc = svc, .client_addr = req->peer.addr};
    (void)kh_audit_record(&ctx, ro->label, req->path, KH_ERR_PERMISSION);
    fail_err(r, KH_ERR_PERMISSION);
    return false;
}

static int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void handle_one(kh_service *svc, const kh_kes_policies *pol, const char *principal,
                       const kh_http_request *req, kh_http_reply *r);

static void handle(kh_service *svc, const kh_kes_policies *pol, const char *principal,
                   const kh_http_request *req, kh_http_reply *r)
{
    int64_t t0 = mono_ns();
    handle_one(svc, pol, principal, req, r);
    if (!r->stream && kh_http_stream_wanted(KH_HTTP_STREAM_AUDIT))
        kh_kes_publish_audit(req, principal, r->status, mono_ns() - t0);
}

static void handle_one(kh_service *svc, const kh_kes_policies *pol, const char *principal,
                       const kh_http_request *req, kh_http_reply *r)
{
    const char *arg = NULL;
    const kes_route *ro = find_route(req->path, &arg);
    if (!ro) { /* the route functions answer these themselves */
        kes_fail(r, 500, KH_ERR_INTERNAL, kh_strerror(KH_ERR_INTERNAL));
        return;
    }
    if (pol && !policy_allows(svc, pol, ro, principal, req, r))
        return;
    if (ro->id == R_LOG_AUDIT || ro->id == R_LOG_ERROR) {
        kh_kes_reply_log(pol, principal,
                         ro->id == R_LOG_AUDIT ? KH_HTTP_STREAM_AUDIT : KH_HTTP_STREAM_ERROR, r);
        return;
    }
    char addr[64]; /* the client behind a trusted proxy (proto/proxy.h) */
    kh_authn_client_addr(svc->authn, req, addr, sizeof(addr));
    kh_ctx ctx = {.principal = pol ? KH_KES_OWNER : principal,
                  .now = (int64_t)time(NULL),
                  .svc = svc,
                  .client_addr = addr,
                  .perm = 0};
    switch (ro->id) {
    case R_READY:
        reply_ready(svc, r);
        break;
    case R_STATUS:
        reply_status(svc, r);
        break;
    case R_LIST:
        reply_list(&ctx, arg, r);
        break;
    case R_VERSION:
    case R_API:
    case R_METRICS:
    case R_SELF:
    case R_IDENTITY:
    case R_IDENTITY_LIST:
    case R_POLICY:
    case R_POLICY_READ:
    case R_POLICY_LIST:
        answer_local(ro, arg, pol, principal, req, r);
        break;
    default:
        key_route(&ctx, pol, principal, ro, arg, req, r);
    }
}

void kh_kes_handle(kh_service *svc, const char *principal, const kh_http_request *req,
                   kh_http_reply *r)
{
    handle(svc, NULL, principal, req, r);
}

void kh_kes_listener_handle(kh_service *svc, const kh_kes_policies *pol, const char *principal,
                            const kh_http_request *req, kh_http_reply *r)
{
    handle(svc, pol, principal, req, r);
}
