/*
 * err.c - the table behind kh_err: message, KMIP ResultReason, HTTP status.
 */
#include "common/err.h"

#include "proto/kmip_consts.h"

#include <stddef.h>

struct err_info {
    const char *name;
    const char *msg;
    unsigned kmip_reason;
    int http;
};

#define E(code, m, r, h) [code] = {#code, m, r, h}

static const struct err_info table[KH_ERR_MAX_] = {
    E(KH_OK, "success", 0, 200),
    E(KH_ERR_NOMEM, "out of memory", KH_RESULT_REASON_GENERAL_FAILURE, 500),
    E(KH_ERR_INVALID_ARG, "invalid argument", KH_RESULT_REASON_INVALID_FIELD, 400),
    E(KH_ERR_DECODE, "malformed message", KH_RESULT_REASON_INVALID_MESSAGE, 400),
    E(KH_ERR_TOO_LARGE, "message too large", KH_RESULT_REASON_INVALID_MESSAGE, 413),
    E(KH_ERR_TOO_DEEP, "message nested too deeply", KH_RESULT_REASON_INVALID_MESSAGE, 400),
    E(KH_ERR_UNSUPPORTED_OP, "operation not supported", KH_RESULT_REASON_OPERATION_NOT_SUPPORTED,
      501),
    E(KH_ERR_NOT_FOUND, "object not found", KH_RESULT_REASON_ITEM_NOT_FOUND, 404),
    E(KH_ERR_PERMISSION, "permission denied", KH_RESULT_REASON_PERMISSION_DENIED, 403),
    E(KH_ERR_WRONG_STATE, "operation not allowed in the object's state",
      KH_RESULT_REASON_ILLEGAL_OPERATION, 409),
    E(KH_ERR_CRYPTO, "cryptographic failure", KH_RESULT_REASON_CRYPTOGRAPHIC_FAILURE, 400),
    E(KH_ERR_STORE, "storage failure", KH_RESULT_REASON_GENERAL_FAILURE, 500),
    E(KH_ERR_IO, "I/O failure", KH_RESULT_REASON_GENERAL_FAILURE, 500),
    E(KH_ERR_CONFIG, "configuration error", KH_RESULT_REASON_GENERAL_FAILURE, 500),
    E(KH_ERR_EXISTS, "object already exists", KH_RESULT_REASON_OBJECT_ALREADY_EXISTS, 409),
    E(KH_ERR_INVALID_FIELD, "invalid field", KH_RESULT_REASON_INVALID_FIELD, 400),
    E(KH_ERR_MISSING_DATA, "missing data", KH_RESULT_REASON_MISSING_DATA, 400),
    E(KH_ERR_ATTR_NOT_FOUND, "attribute not found", KH_RESULT_REASON_ITEM_NOT_FOUND, 404),
    E(KH_ERR_ATTR_READ_ONLY, "attribute is read-only", KH_RESULT_REASON_PERMISSION_DENIED, 400),
    E(KH_ERR_ATTR_SINGLE, "attribute is single-valued and already present",
      KH_RESULT_REASON_INDEX_OUT_OF_BOUNDS, 400),
    E(KH_ERR_BUSY, "server busy, try again", KH_RESULT_REASON_GENERAL_FAILURE, 503),
    E(KH_ERR_INTERNAL, "internal error", KH_RESULT_REASON_GENERAL_FAILURE, 500),
    E(KH_ERR_UNSUPPORTED, "feature not supported", KH_RESULT_REASON_FEATURE_NOT_SUPPORTED, 400),
    E(KH_ERR_AUTH, "authentication not successful", KH_RESULT_REASON_AUTHENTICATION_NOT_SUCCESSFUL,
      401),
    E(KH_ERR_KEY_FORMAT, "key format type not supported",
      KH_RESULT_REASON_KEY_FORMAT_TYPE_NOT_SUPPORTED, 400),
    E(KH_ERR_NO_KEY_VALUE, "key value not present", KH_RESULT_REASON_KEY_VALUE_NOT_PRESENT, 409),
    E(KH_ERR_CONFLICT, "concurrent update, retry", KH_RESULT_REASON_GENERAL_FAILURE, 409),
    E(KH_ERR_VERSION, "protocol version not supported", KH_RESULT_REASON_INVALID_MESSAGE, 400),
    E(KH_ERR_NOT_EXTRACTABLE, "object is not extractable", KH_RESULT_REASON_NOT_EXTRACTABLE, 403),
};

static const struct err_info *info(kh_err err)
{
    if ((unsigned)err >= KH_ERR_MAX_ || table[err].name == NULL)
        return &table[KH_ERR_INTERNAL];
    return &table[err];
}

const char *kh_strerror(kh_err err)
{
    return info(err)->msg;
}

unsigned kh_err_kmip_reason(kh_err err)
{
    return info(err)->kmip_reason;
}

int kh_err_http_status(kh_err err)
{
    return info(err)->http;
}

const char *kh_err_name(kh_err err)
{
    return info(err)->name;
}
