/*
 * fuzz_kmip.c - libFuzzer target for the whole KMIP request path:
 * bytes -> TTLV -> message envelope -> operation adapters -> ops -> SQLite.
 *
 * The service runs on a throwaway SQLite file and master key made once per
 * process. Every input must produce a response that itself decodes as TTLV.
 */
#include "ops/ops.h"
#include "proto/kmip.h"
#include "proto/ttlv.h"
#include "service.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static kh_service svc;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kh_fuzz_service("kmip", &svc);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kh_buf reply = {0};
    kh_kmip_handle(&svc, "fuzzer", data, size, &reply);
    kh_ttlv *t = NULL;
    if (reply.len == 0 ||
        kh_ttlv_decode(reply.data, reply.len, &kh_ttlv_default_limits, &t) != KH_OK)
        abort(); /* every request gets a well-formed response */
    kh_ttlv_free(&t);
    kh_buf_free(&reply);
    return 0;
}
