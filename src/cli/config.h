/*
 * config.h - options: command-line flag, KEYHOLD_<NAME> environment
 * variable, or a line of ./.env, in that order of precedence.
 */
#ifndef KH_CLI_CONFIG_H
#define KH_CLI_CONFIG_H

#include "common/err.h"

#include <stdio.h>

typedef struct kh_option {
    const char *name; /* flag name without "--", e.g. "kmip-port" */
    const char *def;  /* default value, NULL = unset */
    const char *help;
} kh_option;

typedef struct kh_config {
    const kh_option *opts;
    size_t nopts;
    char **values; /* resolved value per option (malloc'd or NULL) */
    char **args;   /* positional arguments (borrowed from argv) */
    size_t nargs;
} kh_config;

/* Resolve every option of opts from argv (argv[0] is the sub-command),
 * the environment and ./.env. "--help" sets *help. */
kh_err kh_config_load(kh_config *cfg, const kh_option *opts, size_t nopts, int argc, char **argv,
                      int *help) KH_MUST_CHECK;
void kh_config_free(kh_config *cfg);
const char *kh_config_get(const kh_config *cfg, const char *name);
/* Integer option in [lo, hi]; KH_ERR_CONFIG with a message otherwise. */
kh_err kh_config_int(const kh_config *cfg, const char *name, long lo, long hi,
                     long *out) KH_MUST_CHECK;
void kh_config_usage(FILE *f, const char *cmd, const char *summary, const kh_option *opts,
                     size_t nopts);

#endif
