/*
 * cli.h - the keyhold sub-commands.
 */
#ifndef KH_CLI_CLI_H
#define KH_CLI_CLI_H

int kh_cmd_serve(int argc, char **argv);
int kh_cmd_migrate(int argc, char **argv);
int kh_cmd_audit(int argc, char **argv); /* admin.c */
int kh_cmd_grant(int argc, char **argv); /* admin.c */
/* cmd "user", "identity", "apikey", "org" or "realm": a client of the admin API
 * (admin_client.c); 2 for another cmd. */
int kh_cmd_admin_client(const char *cmd, int argc, char **argv);
/* keyhold grant add|remove|list --server ...: the same through the admin
 * API (admin_client.c); cfg holds the grant verb's options. */
struct kh_config;
int kh_admin_api_grant(const struct kh_config *cfg, const char *verb);
int kh_cmd_kes(int argc, char **argv); /* kes.c */
/* One admin API request (path after "/v1/admin/", body borrowed, may be
 * NULL) with cfg's server, credentials and CA (options named as in
 * admin_client.c); the answer printed; 0 on a 2xx (admin_client.c). */
struct json_t;
int kh_admin_api_call(const struct kh_config *cfg, const char *method, const char *path,
                      struct json_t *body);
/* keyhold kes policy|assign|unassign|assignments: KES policies through
 * the admin API (kes_admin.c); argv[0] is the verb. */
int kh_cmd_kes_admin(int argc, char **argv);

/* The options of every admin API client verb (admin_client.c, kes_admin.c):
 * where the server is and how to authenticate to it. */
#define KH_ADMIN_CONNECTION_OPTIONS                                                                \
    {"server", "https://127.0.0.1:9998", "the keyhold HTTPS listener"},                            \
        {"administration-token", NULL,                                                             \
         "the server's administration token (env or .env preferred)"},                             \
        {"api-key", NULL, "an ADMIN user's API key (khk_...), instead of the token"},              \
        {"ca", NULL, "PEM CA certificate that signed the server's certificate"},                   \
        {"cert", NULL, "PEM client certificate of an ADMIN user, instead of the token"},           \
    {                                                                                              \
        "key", NULL, "PEM private key of --cert"                                                   \
    }

#endif
