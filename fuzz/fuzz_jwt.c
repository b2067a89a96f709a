/*
 * fuzz_jwt.c - libFuzzer target for JWT bearer tokens and JWKS documents
 * (src/proto/jwt.c, src/proto/jwks.c, src/crypto/jose.c).
 *
 * An input starting with '{' is a JWKS document; anything else is a
 * compact token, parsed and verified against the fixed key set of
 * fuzz_jwt_keys.h (made with the seeds by fuzz/gen_jwt_seeds.py, whose
 * private keys are gone). Properties: nothing crashes or leaks; a token
 * that verifies yields exactly "jwt:<iss>#<sub>" for the configured
 * issuer; a key set never holds more than KH_JWKS_MAX_KEYS keys.
 */
#include "proto/jwks.h"
#include "proto/jwt.h"

#include "common/log.h"
#include "fuzz_jwt_keys.h"

#include <stdlib.h>
#include <string.h>

#define NOW 1800000000LL

static kh_jwks *keys;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kh_log_set_level(KH_LOG_ERROR);
    if (kh_jwks_parse((const uint8_t *)fuzz_jwks, strlen(fuzz_jwks), &keys) != KH_OK ||
        kh_jwks_count(keys) != 2)
        abort();
    return 0;
}

static void fuzz_jwks_doc(const uint8_t *data, size_t size)
{
    kh_jwks *ks = NULL;
    if (kh_jwks_parse(data, size, &ks) != KH_OK)
        return;
    if (kh_jwks_count(ks) > KH_JWKS_MAX_KEYS)
        abort();
    (void)kh_jwks_find(ks, "r", KH_JWS_RS256);
    (void)kh_jwks_find(ks, "e", KH_JWS_ES256);
    kh_jwks_release(&ks);
}

static void fuzz_token(const uint8_t *data, size_t size)
{
    static const kh_jwt_policy policy = {FUZZ_JWT_ISS, FUZZ_JWT_AUD, 60};
    kh_jwt *t = NULL;
    kh_jwt_reason why = KH_JWT_OK;
    char id[512];
    if (kh_jwt_parse((const char *)data, size, &t, &why) != KH_OK) {
        if (why == KH_JWT_OK || !kh_jwt_reason_str(why))
            abort();
        return;
    }
    if (kh_jwt_verify(t, keys, &policy, NOW, id, sizeof(id), &why) == KH_OK) {
        size_t n = strlen("jwt:" FUZZ_JWT_ISS "#");
        if (strncmp(id, "jwt:" FUZZ_JWT_ISS "#", n) != 0 || id[n] == '\0')
            abort();
    } else if (why == KH_JWT_OK) {
        abort();
    }
    kh_jwt_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == '{')
        fuzz_jwks_doc(data, size);
    else
        fuzz_token(data, size);
    return 0;
}
