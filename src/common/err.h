/*
 * err.h - the one error enum of keyhold.
 *
 * Every function that can fail returns a kh_err. One table (err.c) maps each
 * code to its message, its KMIP ResultReason and its HTTP status, so every
 * protocol reports the same failure the same way. Values are numbered
 * explicitly and never reused.
 */
#ifndef KH_COMMON_ERR_H
#define KH_COMMON_ERR_H

typedef enum kh_err {
    KH_OK = 0,
    KH_ERR_NOMEM = 1,            /* allocation failed */
    KH_ERR_INVALID_ARG = 2,      /* caller passed something unusable */
    KH_ERR_DECODE = 3,           /* malformed message (bad TTLV, bad JSON) */
    KH_ERR_TOO_LARGE = 4,        /* message or item over the configured bound */
    KH_ERR_TOO_DEEP = 5,         /* nesting over the configured bound */
    KH_ERR_UNSUPPORTED_OP = 6,   /* operation not supported */
    KH_ERR_NOT_FOUND = 7,        /* object does not exist or is not visible */
    KH_ERR_PERMISSION = 8,       /* authenticated but not allowed */
    KH_ERR_WRONG_STATE = 9,      /* lifecycle state forbids the operation */
    KH_ERR_CRYPTO = 10,          /* cryptographic failure (one message only) */
    KH_ERR_STORE = 11,           /* storage backend failure */
    KH_ERR_IO = 12,              /* file or socket I/O failure */
    KH_ERR_CONFIG = 13,          /* bad configuration */
    KH_ERR_EXISTS = 14,          /* object already exists */
    KH_ERR_INVALID_FIELD = 15,   /* a field has a value we cannot accept */
    KH_ERR_MISSING_DATA = 16,    /* a required field is absent */
    KH_ERR_ATTR_NOT_FOUND = 17,  /* attribute (instance) not present */
    KH_ERR_ATTR_READ_ONLY = 18,  /* attribute is set by the server only */
    KH_ERR_ATTR_SINGLE = 19,     /* single-valued attribute already present */
    KH_ERR_BUSY = 20,            /* server overloaded, try again */
    KH_ERR_INTERNAL = 21,        /* a bug: should not happen */
    KH_ERR_UNSUPPORTED = 22,     /* feature/algorithm not supported */
    KH_ERR_AUTH = 23,            /* authentication not successful */
    KH_ERR_KEY_FORMAT = 24,      /* key format type not supported */
    KH_ERR_NO_KEY_VALUE = 25,    /* material destroyed or absent */
    KH_ERR_CONFLICT = 26,        /* concurrent update lost the race; retry */
    KH_ERR_VERSION = 27,         /* protocol version not supported */
    KH_ERR_NOT_EXTRACTABLE = 28, /* object may not leave the server, even wrapped */
    KH_ERR_MAX_ = 29
} kh_err;

/* Human-readable message; never includes data from the request. */
const char *kh_strerror(kh_err err);

/* KMIP ResultReason enumeration value for err. */
unsigned kh_err_kmip_reason(kh_err err);

/* HTTP status code for err. */
int kh_err_http_status(kh_err err);

/* Stable short name, e.g. "KH_ERR_NOT_FOUND" (for logs and metrics). */
const char *kh_err_name(kh_err err);

#define KH_MUST_CHECK __attribute__((warn_unused_result))

#endif
