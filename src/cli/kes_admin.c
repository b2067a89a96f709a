/*
 * kes_admin.c - `keyhold kes policy|assign|unassign|assignments`: KES
 * policies and identity assignments through the admin API
 * (docs/admin-api.md, "KES policies"), with the same server, credential
 * and CA options as the other admin API clients (admin_client.c).
 *
 *   keyhold kes policy put NAME [--allow R1,R2] [--deny R3] | --file F.json
 *   keyhold kes policy show NAME | list | delete NAME
 *   keyhold kes assign IDENTITY POLICY
 *   keyhold kes unassign IDENTITY
 *   keyhold kes assignments
 *
 * The server validates; this only builds requests.
 */
#include "cli/cli.h"
#include "cli/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const kh_option kes_opts[] = {
    KH_ADMIN_CONNECTION_OPTIONS,
    {"allow", NULL, "policy put: comma list of allowed API paths (a trailing '*' is a prefix)"},
    {"deny", NULL, "policy put: comma list of denied API paths (checked before --allow)"},
    {"file", NULL, "policy put: JSON file {\"allow\": [...], \"deny\": [...]} instead"},
};
#define NKES (sizeof(kes_opts) / sizeof(kes_opts[0]))

static const struct {
    const char *verb;
    const char *usage;
    const char *summary;
} helps[] = {
    {"policy",
     "kes policy put NAME [--allow R,...] [--deny R,...] | put NAME --file F.json | show NAME | "
     "list | delete NAME",
     "Create or replace, show, list or delete a KES policy through the admin API; changes\n"
     "are stored in the database and reach every node (docs/kes.md)."},
    {"assign", "kes assign IDENTITY POLICY",
     "Assign a KES identity (64 hex digits: keyhold kes identity API_KEY|CERT.pem) to a policy,\n"
     "replacing the policy it had."},
    {"unassign", "kes unassign IDENTITY", "Take a KES identity's policy away."},
    {"assignments", "kes assignments", "List the KES identities and their policies."},
};

/* A comma list into a JSON array (empty items skipped). */
static json_t *list_of(const char *s)
{
    json_t *a = json_array();
    while (s && *s) {
        size_t k = strcspn(s, ",");
        if (k > 0)
            json_array_append_new(a, json_stringn(s, k));
        s += k;
        if (*s == ',')
            s++;
    }
    return a;
}

/* The policy body from --file or --allow/--deny; NULL (reported) when the
 * file does not read. */
static json_t *policy_body(const kh_config *cfg)
{
    const char *file = kh_config_get(cfg, "file");
    if (file) {
        json_error_t e;
        json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &e);
        if (!j)
            fprintf(stderr, "keyhold: %s: line %d: %s\n", file, e.line, e.text);
        return j;
    }
    return json_pack("{s:o, s:o}", "allow", list_of(kh_config_get(cfg, "allow")), "deny",
                     list_of(kh_config_get(cfg, "deny")));
}

/* A path segment we may put in a URL as it is (the server checks the
 * rest): no separators, escapes, dot segments or spaces. */
static bool seg_ok(const char *s)
{
    if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strlen(s) > 100)
        return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("/?#%", *p))
            return false;
    return true;
}

/* Run verb's request; -1 when the arguments do not fit it. */
static int run(const kh_config *cfg, const char *verb)
{
    const char *const *a = (const char *const *)cfg->args;
    size_t n = cfg->nargs;
    char path[512];
    for (size_t i = 0; i < n; i++)
        if (!seg_ok(a[i]))
            return -1;
    if (strcmp(verb, "assignments") == 0 && n == 0)
        return kh_admin_api_call(cfg, "GET", "kes/identities", NULL);
    if (strcmp(verb, "unassign") == 0 && n == 1) {
        snprintf(path, sizeof(path), "kes/identities/%s", a[0]);
        return kh_admin_api_call(cfg, "DELETE", path, NULL);
    }
    if (strcmp(verb, "assign") == 0 && n == 2) {
        json_t *body = json_pack("{s:s}", "policy", a[1]);
        snprintf(path, sizeof(path), "kes/identities/%s", a[0]);
        int rc = body ? kh_admin_api_call(cfg, "PUT", path, body) : 2;
        json_decref(body);
        return rc;
    }
    if (strcmp(verb, "policy") != 0 || n == 0)
        return -1;
    if (strcmp(a[0], "list") == 0 && n == 1)
        return kh_admin_api_call(cfg, "GET", "kes/policies", NULL);
    if (n != 2)
        return -1;
    snprintf(path, sizeof(path), "kes/policies/%s", a[1]);
    if (strcmp(a[0], "show") == 0)
        return kh_admin_api_call(cfg, "GET", path, NULL);
    if (strcmp(a[0], "delete") == 0)
        return kh_admin_api_call(cfg, "DELETE", path, NULL);
    /* an empty policy allows nothing: only on purpose (--allow "") */
    if (strcmp(a[0], "put") != 0 || (!kh_config_get(cfg, "allow") && !kh_config_get(cfg, "deny") &&
                                     !kh_config_get(cfg, "file")))
        return -1;
    json_t *body = policy_body(cfg);
    int rc = body ? kh_admin_api_call(cfg, "PUT", path, body) : 1;
    json_decref(body);
    return rc;
}

int kh_cmd_kes_admin(int argc, char **argv)
{
    size_t h = 0;
    while (h < sizeof(helps) / sizeof(helps[0]) && strcmp(helps[h].verb, argv[0]) != 0)
        h++;
    if (h == sizeof(helps) / sizeof(helps[0]))
        return 2;
    kh_config cfg;
    int help = 0;
    if (kh_config_load(&cfg, kes_opts, NKES, argc, argv, &help) != KH_OK)
        return 2;
    int rc = help ? -1 : run(&cfg, argv[0]);
    if (rc < 0) {
        kh_config_usage(help ? stdout : stderr, helps[h].usage, helps[h].summary, kes_opts, NKES);
        rc = help ? 0 : 2;
    }
    kh_config_free(&cfg);
    return rc;
}
