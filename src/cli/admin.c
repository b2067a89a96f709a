/*
 * admin.c - `keyhold audit verify` and `keyhold grant add|remove|list`:
 * admin verbs that open the database directly (--db), as migrate does.
 *
 * They run next to a live server safely: audit verify only reads, and a
 * grant change is one transaction like any the server makes. With
 * --server, grant goes through a running server's admin API instead
 * (admin_client.c).
 */
#include "cli/cli.h"
#include "cli/config.h"

#include "common/log.h"
#include "ops/audit.h"
#include "ops/authz.h"
#include "ops/ops.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DB "sqlite:///var/lib/keyhold/keyhold.db"

static const kh_option audit_opts[] = {
    {"db", DEFAULT_DB, "database URL"},
};
#define NAUDIT (sizeof(audit_opts) / sizeof(audit_opts[0]))

/* Admin verbs work on an existing database: opening a SQLite URL creates
 * the file, so a mistyped path would otherwise "verify" an empty log. */
static bool sqlite_file_missing(const char *url)
{
    const char *path = url;
    if (strncmp(url, "sqlite://", 9) == 0)
        path = url + 9;
    else if (strstr(url, "://"))
        return false; /* not SQLite */
    return access(path, F_OK) != 0;
}

static kh_err open_db(const kh_config *cfg, kh_store **s)
{
    const char *url = kh_config_get(cfg, "db");
    if (url && sqlite_file_missing(url)) {
        fprintf(stderr, "keyhold: no database at the --db path\n");
        return KH_ERR_NOT_FOUND;
    }
    kh_err err = kh_store_open(url, s);
    if (err != KH_OK)
        fprintf(stderr, "keyhold: cannot open the database (--db): %s\n", kh_strerror(err));
    return err;
}

static int audit_verify(const kh_config *cfg)
{
    kh_store *s = NULL;
    kh_audit_report rep;
    kh_err err = open_db(cfg, &s);
    if (err == KH_OK)
        err = kh_audit_verify(s, &rep);
    kh_store_close(&s);
    if (err != KH_OK) {
        fprintf(stderr, "keyhold: audit verify: %s\n", kh_strerror(err));
        return 2;
    }
    if (rep.broken_id) {
        printf("BROKEN: row %lld: %s (%lld rows verified before it)\n", (long long)rep.broken_id,
               rep.reason, (long long)rep.rows);
        return 1;
    }
    printf("OK: %lld rows\n", (long long)rep.rows);
    return 0;
}

int kh_cmd_audit(int argc, char **argv)
{
    kh_config cfg;
    int help = 0, rc = 2;
    kh_err err = kh_config_load(&cfg, audit_opts, NAUDIT, argc, argv, &help);
    if (err == KH_OK && (help || cfg.nargs != 1 || strcmp(cfg.args[0], "verify") != 0)) {
        kh_config_usage(help ? stdout : stderr, "audit verify",
                        "Walk the audit log's hash chain: prints \"OK: N rows\", or the first\n"
                        "row that does not verify and exits 1 (docs/audit.md).",
                        audit_opts, NAUDIT);
        rc = help ? 0 : 2;
    } else if (err == KH_OK) {
        rc = audit_verify(&cfg);
    }
    kh_config_free(&cfg);
    return rc;
}

static const kh_option grant_opts[] = {
    {"db", DEFAULT_DB, "database URL"},
    {"owner", NULL, "the principal that owns the object(s) and makes the grant"},
    {"object", NULL, "object uid, or '*' for all of the owner's objects (list: optional filter)"},
    {"to", NULL, "grantee principal, or '*' for everyone"},
    {"permissions", NULL,
     "comma list: create, get, export, encrypt, decrypt, sign, verify, mac, import, revoke, "
     "locate, rekey, destroy, get_attributes, modify_attributes, or all"},
    {"server", NULL,
     "instead of --db: a running server's HTTPS listener (https://host:9998), through its admin "
     "API"},
    {"administration-token", NULL, "with --server: the administration token (env preferred)"},
    {"api-key", NULL, "with --server: an ADMIN user's API key, instead of the token"},
    {"ca", NULL, "with --server: PEM CA certificate of the server's certificate"},
    {"cert", NULL, "with --server: an ADMIN user's PEM client certificate"},
    {"key", NULL, "with --server: the private key of --cert"},
};
#define NGRANT (sizeof(grant_opts) / sizeof(grant_opts[0]))

static int need(const kh_config *cfg, const char *name)
{
    const char *v = kh_config_get(cfg, name);
    if (v && *v)
        return 1;
    fprintf(stderr, "keyhold: grant: --%s is required\n", name);
    return 0;
}

static int grant_list(kh_ctx *ctx, const char *object)
{
    kh_grant_row *rows = NULL;
    size_t n = 0;
    kh_err err = kh_op_list_grants(ctx, object, &rows, &n);
    if (err != KH_OK) {
        fprintf(stderr, "keyhold: grant list: %s\n", kh_strerror(err));
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        char perms[256];
        kh_perm_format(rows[i].permissions, perms, sizeof(perms));
        printf("%s\t%s\t%s\n", rows[i].object_uid, rows[i].grantee, perms);
    }
    kh_grant_rows_free(rows, n);
    return 0;
}

static int grant_change(kh_ctx *ctx, const kh_config *cfg, int add)
{
    uint32_t perms = 0;
    const char *object = kh_config_get(cfg, "object"), *to = kh_config_get(cfg, "to");
    if (kh_perm_parse(kh_config_get(cfg, "permissions"), &perms) != KH_OK) {
        fprintf(stderr, "keyhold: grant: --permissions names an unknown permission\n");
        return 2;
    }
    kh_err err =
        add ? kh_op_grant(ctx, object, to, perms) : kh_op_revoke_grant(ctx, object, to, perms);
    (void)kh_audit_record(ctx, add ? "Grant" : "RevokeGrant", object, err);
    if (err != KH_OK) {
        fprintf(stderr, "keyhold: grant %s: %s\n", add ? "add" : "remove", kh_strerror(err));
        return 1;
    }
    printf("%s %s on %s %s %s\n", add ? "granted" : "removed", kh_config_get(cfg, "permissions"),
           object, add ? "to" : "from", to);
    return 0;
}

static int grant_run(const kh_config *cfg, const char *verb)
{
    int is_list = strcmp(verb, "list") == 0;
    if (!need(cfg, "owner") ||
        (!is_list && (!need(cfg, "object") || !need(cfg, "to") || !need(cfg, "permissions"))))
        return 2;
    if (kh_config_get(cfg, "server"))
        return kh_admin_api_grant(cfg, verb);
    kh_store *s = NULL;
    if (open_db(cfg, &s) != KH_OK)
        return 1;
    kh_service svc = {.store = s, .server_name = "keyhold", .audit = true};
    kh_ctx ctx = {.principal = kh_config_get(cfg, "owner"),
                  .now = (int64_t)time(NULL),
                  .svc = &svc,
                  .client_addr = "cli",
                  .perm = 0};
    int rc = is_list ? grant_list(&ctx, kh_config_get(cfg, "object"))
                     : grant_change(&ctx, cfg, strcmp(verb, "add") == 0);
    kh_store_close(&s);
    return rc;
}

int kh_cmd_grant(int argc, char **argv)
{
    kh_config cfg;
    int help = 0, rc = 2;
    kh_err err = kh_config_load(&cfg, grant_opts, NGRANT, argc, argv, &help);
    const char *verb = err == KH_OK && cfg.nargs == 1 ? cfg.args[0] : "";
    int known =
        strcmp(verb, "add") == 0 || strcmp(verb, "remove") == 0 || strcmp(verb, "list") == 0;
    if (err == KH_OK && (help || !known)) {
        kh_config_usage(help ? stdout : stderr, "grant add|remove|list",
                        "Manage the owner's grants on objects (docs/authorization.md), on the\n"
                        "database (--db) or through a server's admin API (--server).",
                        grant_opts, NGRANT);
        rc = help ? 0 : 2;
    } else if (err == KH_OK) {
        rc = grant_run(&cfg, verb);
    }
    kh_config_free(&cfg);
    return rc;
}
