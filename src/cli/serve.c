/*
 * serve.c - `keyhold serve` and `keyhold migrate`: wire the layers together.
 *
 *   master key file -> keyring -> store (migrated) -> ops service
 *   -> KMIP protocol handler -> TLS listener    \
 *   -> HTTP routes (KMIP JSON, health, metrics) -> HTTPS listener -> event loop
 */
#include "cli/cli.h"
#include "cli/config.h"

#include "common/log.h"
#include "crypto/masterkey.h"
#include "crypto/secbuf.h"
#include "net/http.h"
#include "net/server.h"
#include "ops/kes_grants.h"
#include "ops/kes_policy_db.h"
#include "ops/keyring.h"
#include "ops/ops.h"
#include "proto/authn.h"
#include "proto/http_routes.h"
#include "proto/jwt_auth.h"
#include "proto/kes.h"
#include "proto/kmip.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

static const kh_option serve_opts[] = {
    {"db", "sqlite:///var/lib/keyhold/keyhold.db",
     "database URL: sqlite:///abs/path.db, sqlite://relative/path.db or "
     "postgresql://user@host/db"},
    {"master-key-file", "/var/lib/keyhold/master.key",
     "file holding the 256-bit master key (hex); created 0600 if absent"},
    {"tls-cert", NULL, "PEM server certificate (chain)"},
    {"tls-key", NULL, "PEM server private key"},
    {"tls-ca", NULL, "PEM CA certificate(s) that sign client certificates"},
    {"tls-ciphers", NULL, "TLS 1.2 cipher list (default: ECDHE with AES-GCM or ChaCha20 only)"},
    {"kmip-host", "0.0.0.0", "address the KMIP listener binds"},
    {"kmip-port", "5696", "KMIP port (0 = pick a free port)"},
    {"https-host", "0.0.0.0", "address the HTTPS listener (KMIP JSON, health, metrics) binds"},
    {"https-port", "9998", "HTTPS port (0 = pick a free port)"},
    {"https-require-client-cert", "false",
     "true: HTTPS clients must present a certificate; false: optional (single-user mode)"},
    {"kes-host", "0.0.0.0", "address the KES API listener binds (docs/kes.md)"},
    {"kes-port", "7373", "KES API port (0 = pick a free port, -1 = no KES listener)"},
    {"kes-tls-auth", "off",
     "on: KES client certificates must chain to --tls-ca; off: any certificate, identified by "
     "its public key (as KES)"},
    {"kes-admin-identity", NULL,
     "KES identity (hex SHA-256 of a public key) that no policy limits"},
    {"kes-policy-file", NULL, "JSON file of KES policies and the identities assigned to them"},
    {"kes-policy-refresh", "5",
     "least seconds between two checks for KES policy changes other nodes made in the database "
     "(0 = on every KES request)"},
    {"workers", "4", "worker threads that run operations"},
    {"queue-max", "1024", "requests waiting for a worker before the server answers busy"},
    {"max-message", "1048576", "largest request accepted, in bytes"},
    {"read-timeout", "30", "seconds a started request may take to arrive"},
    {"idle-timeout", "300", "seconds an idle connection is kept"},
    {"max-connections", "16384", "simultaneous connections"},
    {"jwt-issuer", NULL,
     "accept JWT bearer tokens from this issuer (\"iss\"); identity jwt:<iss>#<sub>"},
    {"jwks-url", NULL, "where --jwt-issuer publishes its JSON Web Key Set (https://)"},
    {"jwt-audience", NULL, "tokens must name this audience (\"aud\"); unset = not checked"},
    {"jwt-leeway", "60", "seconds of clock skew allowed on a token's exp and nbf"},
    {"jwks-ca", NULL, "PEM CA certificate(s) for the JWKS server (default: the system's)"},
    {"jwks-refresh", "300", "seconds after which the JWKS is fetched again"},
    {"jwks-min-refetch", "10", "least seconds between two JWKS fetches (unknown kid, failures)"},
    {"jwks-timeout", "10", "seconds one JWKS fetch may take"},
    {"jwks-allow-http", "false", "true: accept an http:// --jwks-url (tests, loopback issuers)"},
    {"ready-file", NULL,
     "write {\"kmip_port\": N, \"https_port\": M, \"kes_port\": K} here once listening (for "
     "scripts/tests; kes_port 0 = none)"},
    {"log-level", "info", "debug, info, warn or error"},
    {"administration-token", NULL,
     "bearer token that authorizes the admin API (/v1/admin), at least 16 characters; "
     "prefer the environment variable or .env to the command line"},
    {"proxy-trusted-address", NULL,
     "comma list of reverse proxy IPs or CIDR blocks whose X-Forwarded-For and "
     "X-Forwarded-Proto are believed (logs, audit log)"},
    {"durability", "power",
     "power: a write is fsync'd before its reply; process: it survives a crash or kill -9 of "
     "keyhold, not a power cut (SQLite; docs/configuration.md)"},
    {"identity-cache-ttl", "1",
     "seconds this node caches what an identity maps to (0 = no cache); changes made through "
     "this node apply at once, those made through another node within this time"},
    {"object-cache-ttl", "auto",
     "seconds this node keeps a loaded object's stored row in memory (0 = no cache; auto: 1 on "
     "SQLite, 0 on PostgreSQL); changes made through this node apply at once, those made "
     "through another node within this time"},
    {"audit-sync-reads", "false",
     "true: a read's audit row is on disk (fsync'd) before the reply; false: committed before "
     "it (it survives a crash of keyhold), fsync'd within 100 ms (docs/audit.md)"},
};
#define NSERVE (sizeof(serve_opts) / sizeof(serve_opts[0]))

static kh_err set_log_level(const char *lvl)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(lvl, names[i]) == 0) {
            kh_log_set_level((kh_log_level)i);
            return KH_OK;
        }
    }
    fprintf(stderr, "keyhold: --log-level must be debug, info, warn or error\n");
    return KH_ERR_CONFIG;
}

static kh_err server_config(const kh_config *cfg, kh_server_config *sc)
{
    long v;
    kh_server_config_defaults(sc);
    if (kh_config_int(cfg, "workers", 1, 256, &v) != KH_OK)
        return KH_ERR_CONFIG;
    sc->workers = (unsigned)v;
    if (kh_config_int(cfg, "queue-max", 1, 1000000, &v) != KH_OK)
        return KH_ERR_CONFIG;
    sc->queue_max = (size_t)v;
    if (kh_config_int(cfg, "max-message", 4096, 64L << 20, &v) != KH_OK)
        return KH_ERR_CONFIG;
    sc->max_message = (size_t)v;
    if (kh_config_int(cfg, "read-timeout", 1, 3600, &v) != KH_OK)
        return KH_ERR_CONFIG;
    sc->read_timeout_s = (unsigned)v;
    if (kh_config_int(cfg, "idle-timeout", 1, 86400, &v) != KH_OK)
        return KH_ERR_CONFIG;
    sc->idle_timeout_s = (unsigned)v;
    if (kh_config_int(cfg, "max-connections", 1, 1000000, &v) != KH_OK)
        return KH_ERR_CONFIG;
    sc->max_connections = (unsigned)v;
    return KH_OK;
}

static kh_err open_store(const char *url, kh_store **store)
{
    int applied = 0;
    kh_err err = kh_store_open(url, store);
    if (err != KH_OK) {
        /* not the URL: a postgresql:// URL may carry a password */
        kh_error("cannot open the database (--db): %s", kh_strerror(err));
        return err;
    }
    if ((err = kh_store_migrate(*store, &applied)) != KH_OK) {
        kh_error("database migration failed: %s", kh_strerror(err));
        kh_store_close(store);
        return err;
    }
    if (applied)
        kh_info("applied %d database migration(s)", applied);
    return KH_OK;
}

static kh_err open_keyring(const char *path, kh_store *store, int64_t realm, kh_keyring **kr)
{
    kh_secbuf *master = NULL;
    bool created = false;
    kh_err err = kh_master_key_load(path, &master, &created);
    if (err != KH_OK) {
        kh_error("master key %s: %s", path, kh_strerror(err));
        return err;
    }
    if (created)
        kh_warn("created a new master key at %s: back it up; without it the data is lost", path);
    if ((err = kh_keyring_new_take(store, master, kr)) != KH_OK)
        return err;
    if ((err = kh_keyring_verify(*kr, realm)) != KH_OK) {
        kh_error("the master key in %s does not open this database's realm keys", path);
        kh_keyring_free(kr);
    }
    return err;
}

static kh_err config_bool(const kh_config *cfg, const char *name, int *out)
{
    const char *v = kh_config_get(cfg, name);
    static const char *yes[] = {"true", "1", "yes", "on"}, *no[] = {"false", "0", "no", "off"};
    for (int i = 0; v && i < 4; i++) {
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *out = strcmp(v, yes[i]) == 0;
            return KH_OK;
        }
    }
    fprintf(stderr, "keyhold: --%s must be true or false\n", name);
    return KH_ERR_CONFIG;
}

static kh_err set_durability(const kh_config *cfg, kh_store *store)
{
    const char *d = kh_config_get(cfg, "durability");
    if (strcmp(d, "power") == 0)
        return KH_OK;
    if (strcmp(d, "process") != 0) {
        fprintf(stderr, "keyhold: --durability must be power or process\n");
        return KH_ERR_CONFIG;
    }
    kh_warn("--durability=process: an acknowledged write survives a crash of keyhold but may be "
            "lost if the machine loses power or its kernel crashes");
    return kh_store_set_durability(store, KH_DURABLE_PROCESS);
}

static kh_err set_caches(const kh_config *cfg, kh_store *store)
{
    long id_ttl = 0, obj_ttl = 0;
    kh_err err = kh_config_int(cfg, "identity-cache-ttl", 0, 60, &id_ttl);
    /* auto: on by default only where no other node can change an object
     * behind this one's back, so that a client going through a load
     * balancer reads its own Revoke on whichever node it reaches next */
    if (err == KH_OK && strcmp(kh_config_get(cfg, "object-cache-ttl"), "auto") == 0)
        obj_ttl = strcmp(store->ops->name, "sqlite") == 0;
    else if (err == KH_OK &&
             (err = kh_config_int(cfg, "object-cache-ttl", 0, 60, &obj_ttl)) != KH_OK)
        fprintf(stderr, "keyhold: --object-cache-ttl may also be auto (the default)\n");
    if (err == KH_OK)
        err = kh_store_set_identity_cache(store, (int64_t)id_ttl * 1000);
    if (err == KH_OK)
        err = kh_store_set_object_cache(store, (int64_t)obj_ttl * 1000);
    return err;
}

static void write_ready(const char *path, int port, int https_port, int kes_port)
{
    if (!path)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f ||
        fprintf(f, "{\"kmip_port\": %d, \"https_port\": %d, \"kes_port\": %d}\n", port, https_port,
                kes_port) < 0 ||
        fclose(f) != 0 || rename(tmp, path) != 0)
        kh_warn("cannot write ready file %s", path);
}

static kh_err listen_https(kh_server *srv, const kh_config *cfg, const kh_tls_config *kmip_tls,
                           kh_service *svc, int *bound)
{
    long port;
    kh_tls_config tls = *kmip_tls;
    kh_err err = kh_config_int(cfg, "https-port", 0, 65535, &port);
    if (err == KH_OK)
        err = config_bool(cfg, "https-require-client-cert", &tls.require_client_cert);
    if (err != KH_OK)
        return err;
    kh_http_handler h = kh_http_routes_handler(svc);
    const char *host = kh_config_get(cfg, "https-host");
    if ((err = kh_server_listen_https(srv, host, (int)port, &tls, &h, bound)) != KH_OK)
        return err;
    kh_info("HTTPS listening on %s:%d (KMIP JSON at /kmip/2_1, /health, /metrics; client "
            "certificate %s)",
            host, *bound, tls.require_client_cert ? "required" : "optional");
    if (!tls.require_client_cert)
        kh_warn("HTTPS listener runs in SINGLE-USER MODE: a request without a client "
                "certificate or an API key acts as user \"%s\" and sees that user's objects; "
                "use --https-require-client-cert=true to refuse such clients",
                KH_HTTP_DEFAULT_PRINCIPAL);
    return KH_OK;
}

/* HTTPS authentication settings: API keys (always, from the store), the
 * administration token and trusted proxies (proto/authn.h). */
static kh_err make_authn(const kh_config *cfg, kh_store *store, kh_authn **out)
{
    kh_err err = kh_authn_new(store, out);
    if (err == KH_OK &&
        kh_authn_set_admin_token(*out, kh_config_get(cfg, "administration-token")) != KH_OK) {
        kh_error("--administration-token must be at least 16 characters");
        err = KH_ERR_CONFIG;
    }
    if (err == KH_OK &&
        kh_authn_set_trusted_proxies(*out, kh_config_get(cfg, "proxy-trusted-address")) != KH_OK) {
        kh_error("--proxy-trusted-address must be a comma list of IP addresses or CIDR blocks");
        err = KH_ERR_CONFIG;
    }
    if (err != KH_OK) {
        kh_authn_free(out);
        return err;
    }
    if (kh_authn_has_admin_token(*out))
        kh_info("admin API (/v1/admin) enabled for the administration token and ADMIN users");
    else
        kh_info("no --administration-token: the admin API (/v1/admin) accepts ADMIN users only");
    if (kh_config_get(cfg, "proxy-trusted-address"))
        kh_info("X-Forwarded-For and X-Forwarded-Proto believed from the trusted proxies only");
    return KH_OK;
}

/* JWT bearer tokens (--jwt-issuer and friends) into authn; nothing when
 * no issuer is configured. */
static kh_err configure_jwt(const kh_config *cfg, kh_authn *authn)
{
    long leeway, refresh, min_refetch, timeout;
    int allow_http = 0;
    kh_jwt_auth *jwt = NULL;
    const char *issuer = kh_config_get(cfg, "jwt-issuer");
    if (!issuer) {
        if (kh_config_get(cfg, "jwks-url") || kh_config_get(cfg, "jwt-audience")) {
            kh_error("--jwks-url and --jwt-audience need --jwt-issuer");
            return KH_ERR_CONFIG;
        }
        return KH_OK;
    }
    if (kh_config_int(cfg, "jwt-leeway", 0, 600, &leeway) != KH_OK ||
        kh_config_int(cfg, "jwks-refresh", 1, 86400, &refresh) != KH_OK ||
        kh_config_int(cfg, "jwks-min-refetch", 0, 3600, &min_refetch) != KH_OK ||
        kh_config_int(cfg, "jwks-timeout", 1, 120, &timeout) != KH_OK ||
        config_bool(cfg, "jwks-allow-http", &allow_http) != KH_OK)
        return KH_ERR_CONFIG;
    kh_jwt_auth_config jc = {issuer,
                             kh_config_get(cfg, "jwt-audience"),
                             kh_config_get(cfg, "jwks-url"),
                             kh_config_get(cfg, "jwks-ca"),
                             allow_http != 0,
                             (unsigned)leeway,
                             (unsigned)refresh,
                             (unsigned)min_refetch,
                             (unsigned)timeout};
    kh_err err = kh_jwt_auth_new(&jc, &jwt);
    if (err != KH_OK)
        return err;
    kh_info("JWT authentication is ON: bearer tokens from issuer %s (keys from %s; audience %s)",
            issuer, jc.jwks_url, jc.audience ? jc.audience : "not checked");
    if (!jc.audience)
        kh_warn("--jwt-audience is not set: any token of issuer %s is accepted, also one "
                "meant for another service",
                issuer);
    if (allow_http && strncmp(jc.jwks_url, "http://", 7) == 0)
        kh_warn("JWKS fetched over plain HTTP (--jwks-allow-http): anyone on the path can "
                "substitute the issuer's keys");
    kh_jwt_auth_prefetch(jwt);
    kh_authn_set_jwt_take(authn, &jwt);
    return KH_OK;
}

/* The KES policy set from --kes-policy-file and --kes-admin-identity. */
static kh_err kes_policies(const kh_config *cfg, kh_kes_policies **out)
{
    const char *file = kh_config_get(cfg, "kes-policy-file");
    const char *admin = kh_config_get(cfg, "kes-admin-identity");
    kh_kes_policies *p = kh_kes_policies_new();
    kh_err err = file ? kh_kes_policies_load_file(p, file) : KH_OK;
    if (err == KH_OK && admin && kh_kes_admin_set(p, admin) != KH_OK) {
        kh_error("--kes-admin-identity must be 64 lower-case hex digits and hold no policy");
        err = KH_ERR_CONFIG;
    }
    if (err != KH_OK)
        kh_kes_policies_free(&p);
    *out = p;
    return err;
}

static kh_err listen_kes(kh_server *srv, const kh_config *cfg, const kh_tls_config *kmip_tls,
                         kh_kes_listener *kl, int *bound)
{
    long port;
    int verify_chain = 0;
    kh_err err = kh_config_int(cfg, "kes-port", -1, 65535, &port);
    if (err == KH_OK)
        err = config_bool(cfg, "kes-tls-auth", &verify_chain);
    if (err != KH_OK || port < 0)
        return err;
    kh_http_handler h = kh_kes_listener_handler(kl);
    const char *host = kh_config_get(cfg, "kes-host");
    if ((err = kh_server_listen_kes(srv, host, (int)port, kmip_tls, verify_chain, &h, bound)) !=
        KH_OK)
        return err;
    kh_info("KES API listening on %s:%d (client certificate required, %s)", host, *bound,
            verify_chain ? "verified against --tls-ca" : "identified by its public key");
    if (!kh_config_get(cfg, "kes-admin-identity") && !kh_config_get(cfg, "kes-policy-file"))
        kh_warn("KES listener has no admin identity and no policy: every KES call but /version "
                "is refused (--kes-admin-identity, --kes-policy-file)");
    return KH_OK;
}

static kh_err run_server(const kh_config *cfg, kh_service *svc)
{
    kh_server_config sc;
    kh_server *srv = NULL;
    long port;
    kh_err err = server_config(cfg, &sc);
    if (err == KH_OK)
        err = kh_config_int(cfg, "kmip-port", 0, 65535, &port);
    if (err != KH_OK)
        return err;
    kh_tls_config tls = {kh_config_get(cfg, "tls-cert"), kh_config_get(cfg, "tls-key"),
                         kh_config_get(cfg, "tls-ca"), kh_config_get(cfg, "tls-ciphers"), 1};
    if (!tls.cert_file || !tls.key_file || !tls.ca_file) {
        kh_error("--tls-cert, --tls-key and --tls-ca are required (scripts/dev-certs makes a "
                 "development set)");
        return KH_ERR_CONFIG;
    }
    kh_kes_policies *pol = NULL;
    kh_kes_policy_db *pdb = NULL;
    long refresh = 0;
    if ((err = kh_config_int(cfg, "kes-policy-refresh", 0, 86400, &refresh)) != KH_OK)
        return err;
    if ((err = kes_policies(cfg, &pol)) != KH_OK)
        return err;
    /* the file is the bootstrap; the database holds the set every node serves */
    pdb = kh_kes_policy_db_new(svc, pol, (unsigned)refresh);
    if ((err = kh_kes_policy_db_bootstrap(pdb)) != KH_OK) {
        kh_kes_policy_db_free(&pdb);
        kh_kes_policies_free(&pol);
        return err;
    }
    svc->kes_policy_db = pdb;
    kh_kes_listener kl = {svc, pol, pdb};
    kh_log_set_tap(kh_kes_log_tap); /* /v1/log/error; before any thread logs */
    /* KES keys' KMIP grants follow the policies as they are now */
    if (kh_kes_grants_sync_all(svc, pol) != KH_OK)
        kh_warn("kes: cannot bring the grants of KES keys in line with the policies");
    if ((err = kh_server_new(&sc, &srv)) != KH_OK) {
        svc->kes_policy_db = NULL;
        kh_kes_policy_db_free(&pdb);
        kh_kes_policies_free(&pol);
        return err;
    }
    kh_proto_handler h = kh_kmip_proto_handler(svc);
    int bound = 0, https_bound = 0, kes_bound = 0;
    err = kh_server_listen_tls(srv, kh_config_get(cfg, "kmip-host"), (int)port, &tls, &h, &bound);
    if (err == KH_OK)
        kh_info("KMIP listening on %s:%d (TLS, client certificate required)",
                kh_config_get(cfg, "kmip-host"), bound);
    if (err == KH_OK)
        err = listen_https(srv, cfg, &tls, svc, &https_bound);
    if (err == KH_OK)
        err = listen_kes(srv, cfg, &tls, &kl, &kes_bound);
    if (err == KH_OK) {
        write_ready(kh_config_get(cfg, "ready-file"), bound, https_bound, kes_bound);
        err = kh_server_run(srv);
        kh_info("shutting down");
    }
    kh_server_free(&srv);
    svc->kes_policy_db = NULL;
    kh_kes_policy_db_free(&pdb);
    kh_kes_policies_free(&pol);
    return err;
}

int kh_cmd_serve(int argc, char **argv)
{
    kh_config cfg;
    int help = 0;
    kh_store *store = NULL;
    kh_keyring *kr = NULL;
    kh_authn *authn = NULL;
    int64_t realm = 0;
    kh_err err = kh_config_load(&cfg, serve_opts, NSERVE, argc, argv, &help);
    if (err == KH_OK && help) {
        kh_config_usage(stdout, "serve", "Run the key management server.", serve_opts, NSERVE);
        kh_config_free(&cfg);
        return 0;
    }
    if (err == KH_OK)
        err = set_log_level(kh_config_get(&cfg, "log-level"));
    if (err == KH_OK)
        err = kh_crypto_init(0);
    if (err == KH_OK)
        err = open_store(kh_config_get(&cfg, "db"), &store);
    if (err == KH_OK)
        err = set_durability(&cfg, store);
    if (err == KH_OK)
        err = set_caches(&cfg, store);
    if (err == KH_OK)
        err = kh_store_realm_ensure(store, "default", &realm);
    if (err == KH_OK)
        err = open_keyring(kh_config_get(&cfg, "master-key-file"), store, realm, &kr);
    if (err == KH_OK)
        err = make_authn(&cfg, store, &authn);
    if (err == KH_OK)
        err = configure_jwt(&cfg, authn);
    if (err == KH_OK) {
        kh_service svc = {.store = store,
                          .keyring = kr,
                          .realm_id = realm,
                          .server_name = "keyhold",
                          .audit = true,
                          .authn = authn};
        int sync_reads = 1;
        err = config_bool(&cfg, "audit-sync-reads", &sync_reads);
        svc.audit_reads_sync_later = !sync_reads;
        if (err == KH_OK)
            err = run_server(&cfg, &svc);
    }
    kh_authn_free(&authn);
    kh_keyring_free(&kr);
    kh_store_close(&store);
    kh_config_free(&cfg);
    if (err != KH_OK)
        fprintf(stderr, "keyhold: %s\n", kh_strerror(err));
    return err == KH_OK ? 0 : 1;
}

static const kh_option migrate_opts[] = {
    {"db", "sqlite:///var/lib/keyhold/keyhold.db", "database URL"},
};

int kh_cmd_migrate(int argc, char **argv)
{
    kh_config cfg;
    int help = 0;
    kh_store *store = NULL;
    int applied = 0, version = 0;
    kh_err err = kh_config_load(&cfg, migrate_opts, 1, argc, argv, &help);
    if (err == KH_OK && help) {
        kh_config_usage(stdout, "migrate", "Apply pending database migrations.", migrate_opts, 1);
        kh_config_free(&cfg);
        return 0;
    }
    if (err == KH_OK)
        err = kh_store_open(kh_config_get(&cfg, "db"), &store);
    if (err == KH_OK)
        err = kh_store_migrate(store, &applied);
    if (err == KH_OK)
        err = kh_store_schema_version(store, &version);
    if (err == KH_OK)
        printf("applied %d migration(s); schema version %d\n", applied, version);
    else
        fprintf(stderr, "keyhold: migrate failed: %s\n", kh_strerror(err));
    kh_store_close(&store);
    kh_config_free(&cfg);
    return err == KH_OK ? 0 : 1;
}
