/*
 * masterkey.h - the root of trust: a 256-bit key in a file.
 *
 * The file holds 64 hex characters (and an optional trailing newline). It is
 * created with mode 0600 when absent; an existing file that group or other
 * can read (or write) is refused. A PKCS#11 HSM is a later alternative.
 */
#ifndef KH_CRYPTO_MASTERKEY_H
#define KH_CRYPTO_MASTERKEY_H

#include "common/err.h"
#include "crypto/secbuf.h"

#include <stdbool.h>

/* Load the master key from path, creating it if absent (then *created is
 * true). Errors: KH_ERR_CONFIG (bad mode, bad content), KH_ERR_IO. */
kh_err kh_master_key_load(const char *path, kh_secbuf **out, bool *created) KH_MUST_CHECK;

#endif
