/*
 * config.c - resolving options from flags, environment and ./.env.
 */
#include "cli/config.h"

#include "common/log.h"
#include "common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int find_opt(const kh_option *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* "kmip-port" -> "KEYHOLD_KMIP_PORT" */
static void env_name(const char *name, char *out, size_t outlen)
{
    size_t k = (size_t)snprintf(out, outlen, "KEYHOLD_");
    for (const char *p = name; *p && k + 1 < outlen; p++)
        out[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[k] = '\0';
}

static void set_value(kh_config *cfg, int i, const char *v, size_t len)
{
    free(cfg->values[i]);
    cfg->values[i] = kh_xstrndup(v, len);
}

/* Lines "KEYHOLD_NAME=value" of ./.env fill options still unset. */
static void load_dotenv(kh_config *cfg, const int *from_cli)
{
    FILE *f = fopen(".env", "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        size_t vlen = strcspn(eq + 1, "\r\n");
        for (size_t i = 0; i < cfg->nopts; i++) {
            char env[128];
            env_name(cfg->opts[i].name, env, sizeof(env));
            if (from_cli[i] || getenv(env) || (size_t)(eq - line) != strlen(env) ||
                strncmp(line, env, strlen(env)) != 0)
                continue;
            set_value(cfg, (int)i, eq + 1, vlen);
        }
    }
    fclose(f);
}

static kh_err parse_argv(kh_config *cfg, int argc, char **argv, int *from_cli, int *help)
{
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            cfg->args[cfg->nargs++] = argv[a];
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int i = find_opt(cfg->opts, cfg->nopts, name, len);
        if (i < 0) {
            fprintf(stderr, "keyhold: unknown option --%.*s (see --help)\n", (int)len, name);
            return KH_ERR_CONFIG;
        }
        if (eq) {
            set_value(cfg, i, eq + 1, strlen(eq + 1));
        } else if (a + 1 < argc) {
            a++;
            set_value(cfg, i, argv[a], strlen(argv[a]));
        } else {
            fprintf(stderr, "keyhold: option --%s needs a value\n", cfg->opts[i].name);
            return KH_ERR_CONFIG;
        }
        from_cli[i] = 1;
    }
    return KH_OK;
}

kh_err kh_config_load(kh_config *cfg, const kh_option *opts, size_t nopts, int argc, char **argv,
                      int *help)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->opts = opts;
    cfg->nopts = nopts;
    cfg->values = kh_xcalloc(nopts, sizeof(char *));
    cfg->args = kh_xcalloc((size_t)argc + 1, sizeof(char *));
    int *from_cli = kh_xcalloc(nopts, sizeof(int));
    *help = 0;
    kh_err err = parse_argv(cfg, argc, argv, from_cli, help);
    for (size_t i = 0; err == KH_OK && i < nopts; i++) {
        char env[128];
        env_name(opts[i].name, env, sizeof(env));
        const char *v = getenv(env);
        if (!from_cli[i] && v)
            set_value(cfg, (int)i, v, strlen(v));
    }
    if (err == KH_OK)
        load_dotenv(cfg, from_cli);
    for (size_t i = 0; err == KH_OK && i < nopts; i++)
        if (!cfg->values[i] && opts[i].def)
            set_value(cfg, (int)i, opts[i].def, strlen(opts[i].def));
    free(from_cli);
    return err;
}

void kh_config_free(kh_config *cfg)
{
    for (size_t i = 0; cfg->values && i < cfg->nopts; i++)
        free(cfg->values[i]);
    free(cfg->values);
    free(cfg->args);
    memset(cfg, 0, sizeof(*cfg));
}

const char *kh_config_get(const kh_config *cfg, const char *name)
{
    int i = find_opt(cfg->opts, cfg->nopts, name, strlen(name));
    return i < 0 ? NULL : cfg->values[i];
}

kh_err kh_config_int(const kh_config *cfg, const char *name, long lo, long hi, long *out)
{
    const char *v = kh_config_get(cfg, name);
    char *end = NULL;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || end == v || *end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "keyhold: --%s must be an integer in [%ld, %ld]\n", name, lo, hi);
        return KH_ERR_CONFIG;
    }
    *out = n;
    return KH_OK;
}

void kh_config_usage(FILE *f, const char *cmd, const char *summary, const kh_option *opts,
                     size_t nopts)
{
    fprintf(f,
            "usage: keyhold %s [options]\n\n%s\n\noptions (flag, or environment "
            "KEYHOLD_<NAME>, or a KEYHOLD_<NAME>= line in ./.env):\n",
            cmd, summary);
    for (size_t i = 0; i < nopts; i++) {
        char env[128];
        env_name(opts[i].name, env, sizeof(env));
        fprintf(f, "  --%-24s %s\n  %-26s [%s; default: %s]\n", opts[i].name, opts[i].help, "", env,
                opts[i].def ? opts[i].def : "none");
    }
}
