/*
 * service.h - the ops service every whole-path fuzz target runs against: a
 * throwaway SQLite file and master key in a fresh /tmp directory, made once
 * per process. Not a fuzz target itself (CMake builds fuzz/fuzz_*.c as
 * targets and links this file into each).
 */
#ifndef KH_FUZZ_SERVICE_H
#define KH_FUZZ_SERVICE_H

#include "ops/ops.h"

/* Fill svc (store, keyring, default realm, server_name "fuzz"); aborts on
 * any failure. tag names the /tmp directory (keyhold-fuzz-<tag>-XXXXXX).
 *
 * There is no kh_crypto_init: with OpenSSL's secure heap, its DRBG state
 * lives in a mapping LeakSanitizer does not scan and every check would
 * report it as leaked. secbufs fall back to the ordinary heap (still
 * wiped). */
void kh_fuzz_service(const char *tag, kh_service *svc);

#endif
