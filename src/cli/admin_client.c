/*
 * admin_client.c - `keyhold user|identity|apikey|org|realm ...`: clients of the
 * admin REST API (docs/admin-api.md) over HTTPS, with libcurl.
 *
 * Each verb is one request; the server's JSON answer is printed indented
 * on stdout, its {"message"} on stderr with exit status 1 (2 for a usage
 * error). The administration token comes from --administration-token, or
 * better KEYHOLD_ADMINISTRATION_TOKEN or .env (a command line is visible
 * to other local users); an ADMIN user may instead present a client
 * certificate (--cert/--key) or an API key (--api-key). What this is not:
 * the --db verbs (admin.c), which open the database directly.
 */
#include "cli/cli.h"
#include "cli/config.h"

#include "common/buf.h"
#include "common/mem.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const kh_option client_opts[] = {
    KH_ADMIN_CONNECTION_OPTIONS,
    {"label", NULL, "user: the person's name; apikey: what the key is for"},
    {"email", NULL, "user: e-mail address"},
    {"profile", NULL, "user: ADMIN, STANDARD or OUTSIDER"},
    {"organization", NULL,
     "user create: the organization (default: default); user list: only its users"},
    {"owner", NULL, "realm create: the principal that becomes the realm's first OWNER"},
    {"role", NULL, "realm member-add: OWNER, MANAGER, CONTRIBUTOR or READER"},
    {"permissions", NULL,
     "realm member-add, instead of --role: a realm grant of these (get,encrypt,...)"},
};
#define NCLIENT (sizeof(client_opts) / sizeof(client_opts[0]))

typedef struct call {
    const char *method;
    char path[512];
    json_t *body; /* NULL = none */
} call;

/* ---- HTTP --------------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    kh_buf *b = arg;
    if (b->len + size * n > (8u << 20))
        return 0; /* an admin answer is never this large */
    kh_buf_append(b, p, size * n);
    return size * n;
}

static char *auth_header(const kh_config *cfg)
{
    const char *t = kh_config_get(cfg, "api-key");
    if (!t || !*t)
        t = kh_config_get(cfg, "administration-token");
    if (!t || !*t)
        return NULL;
    size_t n = strlen(t) + 32;
    char *h = kh_xmalloc(n);
    snprintf(h, n, "Authorization: Bearer %s", t);
    return h;
}

static void print_reply(long status, const kh_buf *resp)
{
    json_error_t e;
    json_t *j = json_loadb((const char *)resp->data, resp->len, 0, &e);
    const json_t *msg = j ? json_object_get(j, "message") : NULL;
    if (status >= 200 && status < 300 && j) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
    } else if (json_is_string(msg)) {
        fprintf(stderr, "keyhold: HTTP %ld: %s\n", status, json_string_value(msg));
    } else {
        fprintf(stderr, "keyhold: HTTP %ld from the server\n", status);
    }
    json_decref(j);
}

static int perform(const kh_config *cfg, const call *c)
{
    char url[1024];
    snprintf(url, sizeof(url), "%s/v1/admin/%s", kh_config_get(cfg, "server"), c->path);
    char *body = c->body ? json_dumps(c->body, JSON_COMPACT) : NULL;
    char *auth = auth_header(cfg);
    kh_buf resp = {0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    CURL *h = curl_easy_init();
    int rc = 1;
    long status = 0;
    if (!h || !hdrs)
        goto out;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    if (kh_config_get(cfg, "ca"))
        curl_easy_setopt(h, CURLOPT_CAINFO, kh_config_get(cfg, "ca"));
    if (kh_config_get(cfg, "cert")) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, kh_config_get(cfg, "cert"));
        curl_easy_setopt(h, CURLOPT_SSLKEY, kh_config_get(cfg, "key"));
    }
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        fprintf(stderr, "keyhold: cannot reach %s: %s\n", kh_config_get(cfg, "server"),
                curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    print_reply(status, &resp);
    rc = status >= 200 && status < 300 ? 0 : 1;
out:
    curl_easy_cleanup(h);
    /* curl_slist_append copied the Authorization line: wipe that copy */
    for (struct curl_slist *l = hdrs; l; l = l->next)
        kh_wipe(l->data, strlen(l->data));
    curl_slist_free_all(hdrs);
    if (auth)
        kh_wipe_free(auth, strlen(auth));
    free(body);
    kh_buf_free(&resp); /* may hold an API key secret: kh_buf wipes */
    return rc;
}

/* ---- verbs -------------------------------------------------------------- */

/* Path segments we put into URLs: ids as the server makes them. */
static bool id_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static void set_opt(json_t *body, const kh_config *cfg, const char *name)
{
    const char *v = kh_config_get(cfg, name);
    if (v)
        json_object_set_new(body, name, json_string(v));
}

static bool build_user(const kh_config *cfg, const char *verb, call *c)
{
    size_t n = cfg->nargs;
    const char *id = n > 1 ? cfg->args[1] : NULL;
    if (strcmp(verb, "list") == 0 && n == 1) {
        const char *org = kh_config_get(cfg, "organization");
        if (org && !id_ok(org))
            return false;
        *c = (call){"GET", "users", NULL};
        if (org)
            snprintf(c->path, sizeof(c->path), "organizations/%s/users", org);
        return true;
    }
    if (strcmp(verb, "create") == 0 && n == 1 && kh_config_get(cfg, "label")) {
        *c = (call){"POST", "users", json_object()};
        set_opt(c->body, cfg, "label");
        set_opt(c->body, cfg, "email");
        set_opt(c->body, cfg, "profile");
        set_opt(c->body, cfg, "organization");
        return true;
    }
    if (n != 2 || !id_ok(id))
        return false;
    if (strcmp(verb, "show") == 0)
        *c = (call){"GET", "", NULL};
    else if (strcmp(verb, "update") == 0)
        *c = (call){"PATCH", "", json_object()};
    else if (strcmp(verb, "revoke") == 0)
        *c = (call){"POST", "", NULL};
    else
        return false;
    snprintf(c->path, sizeof(c->path), "users/%s%s", id, strcmp(verb, "revoke") ? "" : "/revoke");
    if (c->body) {
        set_opt(c->body, cfg, "label");
        set_opt(c->body, cfg, "email");
        set_opt(c->body, cfg, "profile");
    }
    return true;
}

static bool build_identity(const kh_config *cfg, const char *verb, call *c)
{
    if (cfg->nargs != 3 || !id_ok(cfg->args[1]))
        return false;
    if (strcmp(verb, "add") != 0 && strcmp(verb, "remove") != 0)
        return false;
    *c = (call){strcmp(verb, "add") == 0 ? "POST" : "DELETE", "", json_object()};
    snprintf(c->path, sizeof(c->path), "users/%s/identities", cfg->args[1]);
    json_object_set_new(c->body, "identity", json_string(cfg->args[2]));
    return true;
}

static bool build_apikey(const kh_config *cfg, const char *verb, call *c)
{
    if (cfg->nargs != 2 || !id_ok(cfg->args[1]))
        return false;
    if (strcmp(verb, "create") == 0) {
        *c = (call){"POST", "", json_object()};
        set_opt(c->body, cfg, "label");
        snprintf(c->path, sizeof(c->path), "users/%s/api-keys", cfg->args[1]);
    } else if (strcmp(verb, "list") == 0) {
        *c = (call){"GET", "", NULL};
        snprintf(c->path, sizeof(c->path), "users/%s/api-keys", cfg->args[1]);
    } else if (strcmp(verb, "revoke") == 0) {
        *c = (call){"DELETE", "", NULL};
        snprintf(c->path, sizeof(c->path), "api-keys/%s", cfg->args[1]);
    } else {
        return false;
    }
    return true;
}

static bool build_org(const kh_config *cfg, const char *verb, call *c)
{
    if (strcmp(verb, "list") == 0 && cfg->nargs == 1) {
        *c = (call){"GET", "organizations", NULL};
        return true;
    }
    if (strcmp(verb, "create") == 0 && cfg->nargs == 2 && id_ok(cfg->args[1])) {
        *c = (call){"POST", "organizations", json_object()};
        json_object_set_new(c->body, "id", json_string(cfg->args[1]));
        return true;
    }
    return false;
}

/* Percent-encode s (all but RFC 3986 unreserved characters) into out. */
static bool pct_encode(const char *s, char *out, size_t n);

static bool build_realm(const kh_config *cfg, const char *verb, call *c)
{
    size_t n = cfg->nargs;
    char member[400];
    if (strcmp(verb, "list") == 0 && n == 1) {
        *c = (call){"GET", "realms", NULL};
        return true;
    }
    if (n < 2 || !id_ok(cfg->args[1]))
        return false;
    if (strcmp(verb, "create") == 0 && n == 2) {
        *c = (call){"POST", "realms", json_object()};
        json_object_set_new(c->body, "name", json_string(cfg->args[1]));
        set_opt(c->body, cfg, "owner");
        return true;
    }
    if (strcmp(verb, "show") == 0 && n == 2) {
        *c = (call){"GET", "", NULL};
        snprintf(c->path, sizeof(c->path), "realms/%s", cfg->args[1]);
        return true;
    }
    bool add = strcmp(verb, "member-add") == 0;
    if ((!add && strcmp(verb, "member-remove") != 0) || n != 3 ||
        !pct_encode(cfg->args[2], member, sizeof(member)) ||
        (add && !kh_config_get(cfg, "role") && !kh_config_get(cfg, "permissions")))
        return false;
    *c = (call){add ? "PUT" : "DELETE", "", add ? json_object() : NULL};
    snprintf(c->path, sizeof(c->path), "realms/%s/members/%s", cfg->args[1], member);
    if (add) {
        set_opt(c->body, cfg, "role");
        set_opt(c->body, cfg, "permissions");
    }
    return true;
}

static const struct verb_info {
    const char *cmd;
    const char *usage;
    const char *summary;
    bool (*build)(const kh_config *cfg, const char *verb, call *c);
} verbs[] = {
    {"user",
     "user create --label L [--email E] [--profile P] [--organization O] | list | "
     "show ID | update ID [--label L] [--email E] [--profile P] | revoke ID",
     "Manage users through the admin API: create, list, show (with history, identities and "
     "API keys),\nupdate, revoke (docs/admin-api.md).",
     build_user},
    {"identity", "identity add|remove USER_ID IDENTITY",
     "Map an identity (tls:<hex SPKI SHA-256> or jwt:<issuer>#<subject>) to a user, or unmap "
     "it.",
     build_identity},
    {"apikey", "apikey create USER_ID [--label L] | list USER_ID | revoke KEY_ID",
     "Create an API key for a user (its secret is printed once), list or revoke keys.",
     build_apikey},
    {"org", "org create ID | list", "Create or list organizations.", build_org},
    {"realm",
     "realm create NAME [--owner P] | list | show NAME |\n"
     "       member-add NAME MEMBER --role R|--permissions P | member-remove NAME MEMBER",
     "Manage realms through the admin API: create, list, show (members and role history),\n"
     "give a member (a principal, or * for everyone) a role or a realm grant of named\n"
     "permissions, or take it back (docs/authorization.md).",
     build_realm},
};

/* Percent-encode s (all but RFC 3986 unreserved characters) into out. */
static bool pct_encode(const char *s, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (k + 4 > n)
            return false;
        if (plain) {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    out[k] = '\0';
    return k > 0;
}

int kh_admin_api_grant(const kh_config *cfg, const char *verb)
{
    char owner[400];
    const char *object = kh_config_get(cfg, "object"), *to = kh_config_get(cfg, "to");
    const char *perms = kh_config_get(cfg, "permissions");
    if (!pct_encode(kh_config_get(cfg, "owner"), owner, sizeof(owner))) {
        fprintf(stderr, "keyhold: grant: --owner is too long\n");
        return 2;
    }
    call c = {strcmp(verb, "list") == 0  ? "GET"
              : strcmp(verb, "add") == 0 ? "POST"
                                         : "DELETE",
              "", NULL};
    snprintf(c.path, sizeof(c.path), "grants/%s", owner);
    if (strcmp(verb, "list") != 0)
        c.body =
            json_pack("{s:s, s:s, s:s}", "object", object, "grantee", to, "permissions", perms);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = perform(cfg, &c);
    curl_global_cleanup();
    json_decref(c.body);
    return rc;
}

int kh_admin_api_call(const kh_config *cfg, const char *method, const char *path, json_t *body)
{
    call c = {method, "", body};
    if (snprintf(c.path, sizeof(c.path), "%s", path) >= (int)sizeof(c.path))
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = perform(cfg, &c);
    curl_global_cleanup();
    return rc;
}

int kh_cmd_admin_client(const char *cmd, int argc, char **argv)
{
    const struct verb_info *v = NULL;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(verbs[i].cmd, cmd) == 0)
            v = &verbs[i];
    if (!v)
        return 2;
    kh_config cfg;
    int help = 0, rc = 2;
    call c = {0};
    if (kh_config_load(&cfg, client_opts, NCLIENT, argc, argv, &help) != KH_OK)
        return 2;
    const char *verb = cfg.nargs >= 1 ? cfg.args[0] : "";
    if (help || !v->build(&cfg, verb, &c)) {
        kh_config_usage(help ? stdout : stderr, v->usage, v->summary, client_opts, NCLIENT);
        rc = help ? 0 : 2;
    } else {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = perform(&cfg, &c);
        curl_global_cleanup();
    }
    json_decref(c.body);
    kh_config_free(&cfg);
    return rc;
}
