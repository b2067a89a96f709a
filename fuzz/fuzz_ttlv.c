/*
 * fuzz_ttlv.c - libFuzzer target for the TTLV binary codec alone.
 *
 * Checks the codec's two promises on arbitrary bytes: decoding never reads
 * out of bounds or runs away (the sanitizers and the limits see to that),
 * and whatever decodes is canonical: encoding the tree gives back exactly
 * the input, and decoding that again gives an equal tree. Seeds are in
 * fuzz/corpus/ttlv, made by fuzz/gen_seeds.py.
 */
#include "proto/ttlv.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_roundtrip(const kh_ttlv *t, const uint8_t *data, size_t size)
{
    kh_buf b = {0};
    kh_ttlv_encode(t, &b);
    if (b.len != size || (size && memcmp(b.data, data, size) != 0))
        abort(); /* a valid input must be its own canonical encoding */
    kh_ttlv *again = NULL;
    if (kh_ttlv_decode(b.data, b.len, &kh_ttlv_default_limits, &again) != KH_OK)
        abort();
    if (!kh_ttlv_equal(t, again))
        abort();
    kh_ttlv_free(&again);
    kh_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= KH_TTLV_HEADER_LEN) {
        size_t total = 0;
        kh_err err = kh_ttlv_frame_len(data, kh_ttlv_default_limits.max_message, &total);
        if (err == KH_OK && (total < KH_TTLV_HEADER_LEN || total % 8 != 0))
            abort();
    }
    kh_ttlv *t = NULL;
    kh_err err = kh_ttlv_decode(data, size, &kh_ttlv_default_limits, &t);
    if (err == KH_OK) {
        check_roundtrip(t, data, size);
        kh_ttlv_free(&t);
    } else if (t != NULL ||
               (err != KH_ERR_DECODE && err != KH_ERR_TOO_LARGE && err != KH_ERR_TOO_DEEP)) {
        abort(); /* failure leaves *out alone and uses only the documented codes */
    }
    return 0;
}
