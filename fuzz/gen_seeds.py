#!/usr/bin/python3
"""gen_seeds.py - write the seed corpus of fuzz/fuzz_ttlv.c (fuzz/corpus/ttlv).

A small TTLV encoder of its own, independent of src/proto/ttlv.c so that the
seeds are not produced by the code under test; it checks itself against the
KMIP 1.x specification's examples before writing anything. Tag and
enumeration values come from src/proto/kmip_consts.h.

Usage: fuzz/gen_seeds.py [OUTDIR]   (default: fuzz/corpus/ttlv next to this file)
"""

import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONSTS = os.path.join(HERE, "..", "src", "proto", "kmip_consts.h")


def load_consts(path):
    with open(path, encoding="ascii") as f:
        pairs = re.findall(r"#define KH_([A-Z0-9_]+) (0x[0-9A-Fa-f]+)U", f.read())
    return {name: int(value, 16) for name, value in pairs}


K = load_consts(CONSTS)


def T(name):
    return K["TAG_" + name]


def item(tag, typ, value):
    pad = b"\0" * (-len(value) % 8)
    return struct.pack(">I", tag)[1:] + bytes([typ]) + struct.pack(">I", len(value)) + value + pad


def struct_(tag, *kids):
    return item(tag, 0x01, b"".join(kids))


def integer(tag, v):
    return item(tag, 0x02, struct.pack(">i", v))


def long_(tag, v):
    return item(tag, 0x03, struct.pack(">q", v))


def bigint(tag, v):
    nbytes = (v.bit_length() + 1 + 7) // 8  # + 1: room for the sign bit
    n = max(8, (nbytes + 7) // 8 * 8)
    return item(tag, 0x04, v.to_bytes(n, "big", signed=True))


def enum(tag, v):
    return item(tag, 0x05, struct.pack(">I", v))


def boolean(tag, v):
    return item(tag, 0x06, struct.pack(">Q", 1 if v else 0))


def text(tag, s):
    return item(tag, 0x07, s.encode("utf-8"))


def octets(tag, b):
    return item(tag, 0x08, bytes(b))


def datetime(tag, secs):
    return item(tag, 0x09, struct.pack(">q", secs))


def interval(tag, secs):
    return item(tag, 0x0A, struct.pack(">I", secs))


def datetime_ext(tag, micros):
    return item(tag, 0x0B, struct.pack(">q", micros))


def self_check():
    """The KMIP 1.x specification's TTLV examples (section 9.1.2)."""
    h = bytes.fromhex
    t = 0x420020
    assert integer(t, 8) == h("42002002000000040000000800000000")
    assert long_(t, 123456789000000000) == h("420020030000000801B69B4BA5749200")
    assert bigint(t, 1234567890000000000000000000) == h(
        "42002004000000100000000003FD35EB6BC2DF4618080000")
    assert enum(t, 255) == h("4200200500000004000000FF00000000")
    assert boolean(t, True) == h("42002006000000080000000000000001")
    assert text(t, "Hello World") == h("420020070000000B48656C6C6F20576F726C640000000000")
    assert octets(t, b"\x01\x02\x03") == h("42002008000000030102030000000000")
    assert datetime(t, 1205495800) == h("42002009000000080000000047DA67F8")
    assert interval(t, 864000) == h("4200200A00000004000D2F0000000000")
    assert struct_(t, enum(0x420004, 254), integer(0x420005, 255)) == h(
        "42002001000000204200040500000004000000FE000000004200050200000004000000FF00000000")


def request(major, minor, *batch_items, extra_header=()):
    header = struct_(T("REQUEST_HEADER"),
                     struct_(T("PROTOCOL_VERSION"),
                             integer(T("PROTOCOL_VERSION_MAJOR"), major),
                             integer(T("PROTOCOL_VERSION_MINOR"), minor)),
                     *extra_header,
                     integer(T("BATCH_COUNT"), len(batch_items)))
    return struct_(T("REQUEST_MESSAGE"), header, *batch_items)


def batch(op, *payload, batch_id=None):
    kids = [enum(T("OPERATION"), K["OPERATION_" + op])]
    if batch_id is not None:
        kids.append(octets(T("UNIQUE_BATCH_ITEM_ID"), batch_id))
    kids.append(struct_(T("REQUEST_PAYLOAD"), *payload))
    return struct_(T("BATCH_ITEM"), *kids)


def attr1(name, value):
    """A KMIP 1.x Attribute: name and value."""
    return struct_(T("ATTRIBUTE"), text(T("ATTRIBUTE_NAME"), name), value)


def av(maker, *args):
    return maker(T("ATTRIBUTE_VALUE"), *args)


UID = "b4faee10-aa2a-4446-8ad4-0881f3422959"


def seeds():
    aes_template = struct_(
        T("TEMPLATE_ATTRIBUTE"),
        attr1("Cryptographic Algorithm", av(enum, K["CRYPTOGRAPHIC_ALGORITHM_AES"])),
        attr1("Cryptographic Length", av(integer, 256)),
        attr1("Cryptographic Usage Mask", av(integer, 0x0C)),
        struct_(T("ATTRIBUTE"), text(T("ATTRIBUTE_NAME"), "Name"),
                struct_(T("ATTRIBUTE_VALUE"),
                        text(T("NAME_VALUE"), "seed-key"),
                        enum(T("NAME_TYPE"), K["NAME_TYPE_UNINTERPRETED_TEXT_STRING"]))))
    sym = enum(T("OBJECT_TYPE"), K["OBJECT_TYPE_SYMMETRIC_KEY"])
    secret = struct_(
        T("SECRET_DATA"),
        enum(T("SECRET_DATA_TYPE"), K["SECRET_DATA_TYPE_PASSWORD"]),
        struct_(T("KEY_BLOCK"),
                enum(T("KEY_FORMAT_TYPE"), K["KEY_FORMAT_TYPE_OPAQUE"]),
                struct_(T("KEY_VALUE"), octets(T("KEY_MATERIAL"), b"s3cr3t-passw0rd"))))
    yield "spec_structure", struct_(0x420020, enum(0x420004, 254), integer(0x420005, 255))
    yield "create_1_2", request(1, 2, batch("CREATE", sym, aes_template))
    yield "get_1_0", request(1, 0, batch("GET", text(T("UNIQUE_IDENTIFIER"), UID)))
    yield "query_1_1", request(1, 1, batch(
        "QUERY",
        enum(T("QUERY_FUNCTION"), K["QUERY_FUNCTION_QUERY_OPERATIONS"]),
        enum(T("QUERY_FUNCTION"), K["QUERY_FUNCTION_QUERY_OBJECTS"]),
        enum(T("QUERY_FUNCTION"), K["QUERY_FUNCTION_QUERY_SERVER_INFORMATION"])))
    yield "destroy_1_4", request(1, 4, batch("DESTROY", text(T("UNIQUE_IDENTIFIER"), UID)))
    yield "locate_1_2", request(1, 2, batch(
        "LOCATE", integer(T("MAXIMUM_ITEMS"), 10),
        attr1("Object Type", av(enum, K["OBJECT_TYPE_SYMMETRIC_KEY"]))))
    yield "register_secret_1_2", request(1, 2, batch(
        "REGISTER", enum(T("OBJECT_TYPE"), K["OBJECT_TYPE_SECRET_DATA"]),
        struct_(T("TEMPLATE_ATTRIBUTE"), attr1("Cryptographic Usage Mask", av(integer, 0))),
        secret))
    yield "batch_create_get", request(
        1, 2,
        batch("CREATE", sym, aes_template, batch_id=b"\x01"),
        batch("GET", text(T("UNIQUE_IDENTIFIER"), UID), batch_id=b"\x02"),
        extra_header=(long_(T("MAXIMUM_RESPONSE_SIZE"), 1 << 20),
                      boolean(T("ASYNCHRONOUS_INDICATOR"), False),
                      datetime(T("TIME_STAMP"), 1205495800)))
    yield "create_2_0", request(2, 0, batch(
        "CREATE", sym,
        struct_(T("ATTRIBUTES"),
                enum(T("CRYPTOGRAPHIC_ALGORITHM"), K["CRYPTOGRAPHIC_ALGORITHM_AES"]),
                integer(T("CRYPTOGRAPHIC_LENGTH"), 128),
                integer(T("CRYPTOGRAPHIC_USAGE_MASK"), 0x0C))))
    yield "create_key_pair_encrypt_1_4", request(
        1, 4,
        batch("CREATE_KEY_PAIR", struct_(
            T("COMMON_TEMPLATE_ATTRIBUTE"),
            # EC, not RSA: every mutation that still parses generates a key
            attr1("Cryptographic Algorithm", av(enum, K["CRYPTOGRAPHIC_ALGORITHM_EC"])),
            attr1("Cryptographic Length", av(integer, 256)))),
        batch("ACTIVATE"),
        batch("SIGN", struct_(T("CRYPTOGRAPHIC_PARAMETERS"),
                              enum(T("HASHING_ALGORITHM"), K["HASHING_ALGORITHM_SHA_256"])),
              octets(T("DATA"), b"to be signed")),
        batch("ENCRYPT", text(T("UNIQUE_IDENTIFIER"), UID),
              struct_(T("CRYPTOGRAPHIC_PARAMETERS"),
                      enum(T("BLOCK_CIPHER_MODE"), K["BLOCK_CIPHER_MODE_GCM"]),
                      integer(T("TAG_LENGTH"), 16)),
              octets(T("DATA"), b"plaintext"), octets(T("IV_COUNTER_NONCE"), bytes(12)),
              octets(T("AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA"), b"aad")))
    yield "mac_rng_hash_2_0", request(
        2, 0,
        batch("MAC_VERIFY", text(T("UNIQUE_IDENTIFIER"), UID),
              struct_(T("CRYPTOGRAPHIC_PARAMETERS"),
                      enum(T("CRYPTOGRAPHIC_ALGORITHM"),
                           K["CRYPTOGRAPHIC_ALGORITHM_HMAC_SHA256"])),
              octets(T("DATA"), b"data"), octets(T("MAC_DATA"), bytes(32))),
        batch("RNG_RETRIEVE", integer(T("DATA_LENGTH"), 32)),
        batch("HASH", struct_(T("CRYPTOGRAPHIC_PARAMETERS"),
                              enum(T("HASHING_ALGORITHM"), K["HASHING_ALGORITHM_SHA3_256"])),
              octets(T("DATA"), b"abc")),
        batch("CREATE_KEY_PAIR", struct_(
            T("COMMON_ATTRIBUTES"),
            enum(T("CRYPTOGRAPHIC_ALGORITHM"), K["CRYPTOGRAPHIC_ALGORITHM_ED25519"]))),
        extra_header=(enum(T("BATCH_ERROR_CONTINUATION_OPTION"),
                           K["BATCH_ERROR_CONTINUATION_OPTION_CONTINUE"]),))
    yield "get_wrapped_formats_1_2", request(
        1, 2,
        batch("CREATE", sym, struct_(
            T("TEMPLATE_ATTRIBUTE"),
            attr1("Cryptographic Algorithm", av(enum, K["CRYPTOGRAPHIC_ALGORITHM_AES"])),
            attr1("Cryptographic Length", av(integer, 256)),
            attr1("Cryptographic Usage Mask", av(integer, 0x10)))),
        batch("ACTIVATE"),
        batch("GET", text(T("UNIQUE_IDENTIFIER"), UID),
              enum(T("KEY_FORMAT_TYPE"), K["KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY"]),
              struct_(T("KEY_WRAPPING_SPECIFICATION"),
                      enum(T("WRAPPING_METHOD"), K["WRAPPING_METHOD_ENCRYPT"]),
                      struct_(T("ENCRYPTION_KEY_INFORMATION"),
                              text(T("UNIQUE_IDENTIFIER"), UID),
                              struct_(T("CRYPTOGRAPHIC_PARAMETERS"),
                                      enum(T("BLOCK_CIPHER_MODE"),
                                           K["BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING"]))),
                      enum(T("ENCODING_OPTION"), K["ENCODING_OPTION_NO_ENCODING"]))),
        batch("GET", enum(T("KEY_FORMAT_TYPE"), K["KEY_FORMAT_TYPE_RAW"]),
              struct_(T("KEY_WRAPPING_SPECIFICATION"),
                      enum(T("WRAPPING_METHOD"), K["WRAPPING_METHOD_ENCRYPT"]),
                      struct_(T("ENCRYPTION_KEY_INFORMATION"),
                              text(T("UNIQUE_IDENTIFIER"), UID)))),
        extra_header=(enum(T("BATCH_ERROR_CONTINUATION_OPTION"),
                           K["BATCH_ERROR_CONTINUATION_OPTION_CONTINUE"]),))
    yield "rekey_derive_1_2", request(
        1, 2,
        batch("CREATE", sym, struct_(
            T("TEMPLATE_ATTRIBUTE"),
            attr1("Cryptographic Algorithm", av(enum, K["CRYPTOGRAPHIC_ALGORITHM_AES"])),
            attr1("Cryptographic Length", av(integer, 256)),
            attr1("Cryptographic Usage Mask", av(integer, 0x200)))),
        batch("ACTIVATE"),
        batch("DERIVE_KEY", sym, enum(T("DERIVATION_METHOD"), K["DERIVATION_METHOD_PBKDF2"]),
              struct_(T("DERIVATION_PARAMETERS"),
                      struct_(T("CRYPTOGRAPHIC_PARAMETERS"),
                              enum(T("HASHING_ALGORITHM"), K["HASHING_ALGORITHM_SHA_256"])),
                      octets(T("SALT"), b"salt"), integer(T("ITERATION_COUNT"), 2)),
              struct_(T("TEMPLATE_ATTRIBUTE"),
                      attr1("Cryptographic Algorithm",
                            av(enum, K["CRYPTOGRAPHIC_ALGORITHM_AES"])),
                      attr1("Cryptographic Length", av(integer, 128)))),
        batch("REKEY", interval(T("OFFSET"), 60)),
        extra_header=(enum(T("BATCH_ERROR_CONTINUATION_OPTION"),
                           K["BATCH_ERROR_CONTINUATION_OPTION_CONTINUE"]),))
    yield "rekey_key_pair_2_0", request(
        2, 0,
        batch("CREATE_KEY_PAIR", struct_(
            T("COMMON_ATTRIBUTES"),
            enum(T("CRYPTOGRAPHIC_ALGORITHM"), K["CRYPTOGRAPHIC_ALGORITHM_ED25519"]))),
        batch("REKEY_KEY_PAIR", struct_(T("PUBLIC_KEY_ATTRIBUTES"))),
        batch("GET", enum(T("KEY_FORMAT_TYPE"), K["KEY_FORMAT_TYPE_RAW"])))
    yield "register_sealed_1_4", request(1, 4, batch(
        "REGISTER", sym, struct_(T("TEMPLATE_ATTRIBUTE")),
        struct_(T("SYMMETRIC_KEY"), struct_(
            T("KEY_BLOCK"),
            enum(T("KEY_FORMAT_TYPE"), K["KEY_FORMAT_TYPE_RAW"]),
            octets(T("KEY_VALUE"), bytes(range(40))),
            enum(T("CRYPTOGRAPHIC_ALGORITHM"), K["CRYPTOGRAPHIC_ALGORITHM_AES"]),
            integer(T("CRYPTOGRAPHIC_LENGTH"), 256),
            struct_(T("KEY_WRAPPING_DATA"),
                    enum(T("WRAPPING_METHOD"), K["WRAPPING_METHOD_ENCRYPT"]),
                    struct_(T("ENCRYPTION_KEY_INFORMATION"),
                            text(T("UNIQUE_IDENTIFIER"), UID),
                            struct_(T("CRYPTOGRAPHIC_PARAMETERS"),
                                    enum(T("BLOCK_CIPHER_MODE"),
                                         K["BLOCK_CIPHER_MODE_AES_KEY_WRAP_PADDING"]),
                                    enum(T("HASHING_ALGORITHM"),
                                         K["HASHING_ALGORITHM_SHA_256"]))),
                    enum(T("ENCODING_OPTION"), K["ENCODING_OPTION_TTLV_ENCODING"]))))))
    yield "all_types", struct_(
        0x420020,
        integer(0x420021, -1), long_(0x420022, -123456789000000000),
        bigint(0x420023, -1234567890000000000000000000), enum(0x420024, 0xFFFFFFFF),
        boolean(0x420025, True), text(0x420026, ""), text(0x420027, "ünïcødé"),
        octets(0x420028, b""), octets(0x420029, bytes(range(17))),
        datetime(0x42002A, -1), interval(0x42002B, 864000),
        datetime_ext(0x42002C, 1205495800123456), struct_(0x540001),
        struct_(0x420030, struct_(0x420031, struct_(0x420032, text(0x420033, "deep")))))


def main():
    self_check()
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "ttlv")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        assert len(data) % 8 == 0
        with open(os.path.join(out, name + ".ttlv"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
