/*
 * main.c - the keyhold command: dispatches to a sub-command.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: keyhold <command> [options]\n\n"
               "commands:\n"
               "  serve     run the key management server (KMIP over TLS)\n"
               "  migrate   apply pending database migrations and exit\n"
               "  audit     audit verify: check the audit log's hash chain\n"
               "  grant     grant add|remove|list: manage grants on objects (--db)\n"
               "  user      user create|list|show|update|revoke: users (admin API)\n"
               "  identity  identity add|remove: map identities to users (admin API)\n"
               "  apikey    apikey create|list|revoke: API keys (admin API)\n"
               "  org       org create|list: organizations (admin API)\n"
               "  kes       kes identity|apikey|policy|assign|unassign: KES identities, policies\n"
               "  realm     realm create|list|show|member-add|member-remove: roles (admin API)\n"
               "  version   print the version\n\n"
               "keyhold <command> --help lists a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return kh_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "migrate") == 0)
        return kh_cmd_migrate(argc - 1, argv + 1);
    if (strcmp(cmd, "audit") == 0)
        return kh_cmd_audit(argc - 1, argv + 1);
    if (strcmp(cmd, "grant") == 0)
        return kh_cmd_grant(argc - 1, argv + 1);
    if (strcmp(cmd, "user") == 0 || strcmp(cmd, "identity") == 0 || strcmp(cmd, "apikey") == 0 ||
        strcmp(cmd, "org") == 0 || strcmp(cmd, "realm") == 0)
        return kh_cmd_admin_client(cmd, argc - 1, argv + 1);
    if (strcmp(cmd, "kes") == 0)
        return kh_cmd_kes(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("keyhold %s\n", KH_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "keyhold: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
