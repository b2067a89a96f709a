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

#endif
