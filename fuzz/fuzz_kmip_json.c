/*
 * fuzz_kmip_json.c - libFuzzer target for KMIP JSON TTLV: the codec and the
 * whole POST /kmip/2_1 endpoint (bytes -> jansson -> kh_ttlv -> binary
 * request -> kh_kmip_handle -> ops -> SQLite -> JSON reply).
 *
 * Properties: whatever decodes re-encodes to JSON that decodes to the same
 * tree; the endpoint always answers a status in 200..599 with a body that is
 * itself JSON.
 */
#include "ops/ops.h"
#include "proto/http_routes.h"
#include "proto/kmip_json.h"
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
    kh_fuzz_service("json", &svc);
    return 0;
}

static void check_round_trip(const uint8_t *data, size_t size)
{
    kh_ttlv *t = NULL, *u = NULL;
    if (kh_kmip_json_decode((const char *)data, size, &t, NULL) != KH_OK)
        return;
    kh_buf b = {0};
    kh_kmip_json_encode(t, NULL, &b);
    if (kh_kmip_json_decode((const char *)b.data, b.len, &u, NULL) != KH_OK || !kh_ttlv_equal(t, u))
        abort();
    kh_buf_free(&b);
    kh_ttlv_free(&t);
    kh_ttlv_free(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_round_trip(data, size);
    kh_buf out = {0};
    kh_err result;
    int status = kh_kmip_json_endpoint(&svc, "fuzzer", data, size, &out, &result);
    json_t *j = kh_kmip_json_parse((const char *)out.data, out.len);
    if (status < 200 || status > 599 || !j)
        abort();
    json_decref(j);
    kh_buf_free(&out);
    return 0;
}
