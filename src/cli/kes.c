/*
 * kes.c - `keyhold kes`: offline helpers for the KES API (docs/kes.md).
 *
 *   keyhold kes identity API_KEY|-   the identity of a KES API key ("-":
 *                                    read it from standard input, which
 *                                    keeps it out of the process list)
 *   keyhold kes identity CERT.pem    the identity of a client certificate
 *   keyhold kes apikey               a new API key and its identity
 *
 * Neither talks to a server: an identity is what an operator puts in a
 * policy (--kes-policy-file) or in --kes-admin-identity. The policy and
 * assignment verbs, which do, are kes_admin.c's.
 */
#include "cli/cli.h"

#include "common/mem.h"
#include "crypto/kes_apikey.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: keyhold kes identity API_KEY|-   print the identity of a KES API key\n"
               "       keyhold kes identity CERT.pem      print the identity of a certificate\n"
               "       keyhold kes apikey                 make a new API key, print it and its "
               "identity\n"
               "       keyhold kes policy put|show|list|delete ...  KES policies (admin API)\n"
               "       keyhold kes assign IDENTITY POLICY | unassign IDENTITY | assignments\n"
               "                                          identities' policies (admin API)\n"
               "(each admin API verb takes --help)\n");
}

static int identity(const char *arg)
{
    char line[256] = "";
    const char *key = arg;
    if (strcmp(arg, "-") == 0) {
        if (!fgets(line, sizeof(line), stdin))
            line[0] = '\0';
        line[strcspn(line, "\r\n")] = '\0';
        key = line;
    }
    char id[KH_KES_IDENTITY_LEN + 1];
    bool apikey = strncmp(key, "kes:", 4) == 0;
    kh_err err = apikey ? kh_kes_apikey_identity(key, id) : kh_kes_cert_identity(key, id);
    kh_wipe(line, sizeof(line));
    if (err != KH_OK) {
        fprintf(stderr, "keyhold: %s\n",
                apikey ? "not a KES API key (kes:v1:...)" : "no PEM certificate in that file");
        return 1;
    }
    printf("%s\n", id);
    return 0;
}

static int apikey(void)
{
    char key[KH_KES_APIKEY_LEN + 1], id[KH_KES_IDENTITY_LEN + 1];
    if (kh_kes_apikey_generate(key, id) != KH_OK) {
        fprintf(stderr, "keyhold: cannot make an API key\n");
        return 1;
    }
    printf("api_key: %s\nidentity: %s\n", key, id);
    kh_wipe(key, sizeof(key));
    return 0;
}

int kh_cmd_kes(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "identity") == 0)
        return identity(argv[2]);
    if (argc == 2 && strcmp(argv[1], "apikey") == 0)
        return apikey();
    if (argc >= 2 && (strcmp(argv[1], "policy") == 0 || strcmp(argv[1], "assign") == 0 ||
                      strcmp(argv[1], "unassign") == 0 || strcmp(argv[1], "assignments") == 0))
        return kh_cmd_kes_admin(argc - 1, argv + 1);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
