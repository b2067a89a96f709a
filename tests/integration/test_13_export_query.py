"""
Export (KMIP 1.4 and 2.x: Get plus the object's attributes) and Query's
list of operations, which must name exactly what the request's protocol
version can use. PyKMIP 0.10 has no Export, so it is hand-encoded TTLV;
results are checked against a plain Get and, for wrapped exports, unwrapped
locally with Python's `cryptography`.
"""
import subprocess

import pytest
from cryptography.hazmat.primitives import keywrap
from kmip.core import enums
from kmip.pie import objects as pobjects

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import E, I, S, T

RR = enums.ResultReason
ALG = enums.CryptographicAlgorithm
MASK = enums.CryptographicUsageMask


class Tag:
    ATTRIBUTE = 0x420008
    ATTRIBUTE_NAME = 0x42000A
    ATTRIBUTE_VALUE = 0x42000B
    CRYPTOGRAPHIC_ALGORITHM = 0x420028
    CRYPTOGRAPHIC_LENGTH = 0x42002A
    ENCRYPTION_KEY_INFORMATION = 0x420036
    KEY = 0x42003F
    KEY_BLOCK = 0x420040
    KEY_FORMAT_TYPE = 0x420042
    KEY_MATERIAL = 0x420043
    KEY_VALUE = 0x420045
    KEY_WRAPPING_DATA = 0x420046
    KEY_WRAPPING_SPECIFICATION = 0x420047
    NAME = 0x420053
    NAME_TYPE = 0x420054
    NAME_VALUE = 0x420055
    OBJECT_TYPE = 0x420057
    OPERATION = 0x42005C
    QUERY_FUNCTION = 0x420074
    SECRET_DATA = 0x420085
    SECRET_DATA_TYPE = 0x420086
    STATE = 0x42008D
    SYMMETRIC_KEY = 0x42008F
    TEMPLATE_ATTRIBUTE = 0x420091
    UNIQUE_IDENTIFIER = 0x420094
    WRAPPING_METHOD = 0x42009E
    ENCODING_OPTION = 0x4200A3
    ATTRIBUTES = 0x420125


class Op:
    CREATE = 0x01
    REGISTER = 0x03
    GET = 0x0A
    QUERY = 0x18
    EXPORT = 0x2B


def call(server, op, *payload, who="alice", version=(2, 0)):
    return kh_support.call(server.port, op, *payload, who=who, version=version)


def ok(r):
    assert r.status == ttlv.STATUS_SUCCESS, r
    return r.payload


def failed(r, reason):
    assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, reason.value), r


def uid_item(uid):
    return T(Tag.UNIQUE_IDENTIFIER, uid)


# ---- Export -------------------------------------------------------------------------


@pytest.mark.parametrize("version", [(2, 0), (2, 1)])
def test_export_2x_object_and_attributes(module_server, alice, version):
    uid = alice.create(ALG.AES, 256, name="exported-2x")
    p = ok(call(module_server, Op.EXPORT, uid_item(uid), version=version))
    assert [k.tag for k in p.value] == [Tag.OBJECT_TYPE, Tag.UNIQUE_IDENTIFIER, Tag.ATTRIBUTES,
                                        Tag.SYMMETRIC_KEY]
    assert p.get(Tag.OBJECT_TYPE) == enums.ObjectType.SYMMETRIC_KEY.value
    assert p.get(Tag.UNIQUE_IDENTIFIER) == uid
    attrs = p.find(Tag.ATTRIBUTES)
    assert attrs.get(Tag.CRYPTOGRAPHIC_ALGORITHM) == ALG.AES.value
    assert attrs.get(Tag.CRYPTOGRAPHIC_LENGTH) == 256
    assert attrs.get(Tag.STATE) == enums.State.PRE_ACTIVE.value
    assert attrs.find(Tag.NAME).get(Tag.NAME_VALUE) == "exported-2x"
    kb = p.find(Tag.SYMMETRIC_KEY).find(Tag.KEY_BLOCK)
    assert kb.find(Tag.KEY_VALUE).get(Tag.KEY_MATERIAL) == alice.get(uid).value


def test_export_1_4_uses_a_template_attribute(module_server, alice):
    uid = alice.register(pobjects.SecretData(b"s3cret", enums.SecretDataType.SEED,
                                             name="exported-14"))
    p = ok(call(module_server, Op.EXPORT, uid_item(uid), version=(1, 4)))
    assert [k.tag for k in p.value] == [Tag.OBJECT_TYPE, Tag.UNIQUE_IDENTIFIER,
                                        Tag.TEMPLATE_ATTRIBUTE, Tag.SECRET_DATA]
    attrs = {}
    for a in p.find(Tag.TEMPLATE_ATTRIBUTE).find_all(Tag.ATTRIBUTE):
        attrs.setdefault(a.get(Tag.ATTRIBUTE_NAME), []).append(a.find(Tag.ATTRIBUTE_VALUE))
    assert attrs["Object Type"][0].value == enums.ObjectType.SECRET_DATA.value
    assert attrs["Unique Identifier"][0].value == uid
    assert attrs["Name"][0].get(Tag.NAME_VALUE) == "exported-14"
    sd = p.find(Tag.SECRET_DATA)
    assert sd.get(Tag.SECRET_DATA_TYPE) == enums.SecretDataType.SEED.value
    assert sd.find(Tag.KEY_BLOCK).find(Tag.KEY_VALUE).get(Tag.KEY_MATERIAL) == b"s3cret"


@pytest.mark.parametrize("version", [(1, 0), (1, 2), (1, 3)])
def test_export_not_before_1_4(module_server, alice, version):
    uid = alice.create(ALG.AES, 128)
    failed(call(module_server, Op.EXPORT, uid_item(uid), version=version),
           RR.OPERATION_NOT_SUPPORTED)


def test_export_converted_and_wrapped(module_server, alice):
    uid = alice.create(ALG.AES, 256)
    plain = alice.get(uid).value
    p = ok(call(module_server, Op.EXPORT, uid_item(uid),
                E(Tag.KEY_FORMAT_TYPE, enums.KeyFormatType.TRANSPARENT_SYMMETRIC_KEY.value)))
    kb = p.find(Tag.SYMMETRIC_KEY).find(Tag.KEY_BLOCK)
    assert kb.get(Tag.KEY_FORMAT_TYPE) == enums.KeyFormatType.TRANSPARENT_SYMMETRIC_KEY.value
    assert kb.find(Tag.KEY_VALUE).find(Tag.KEY_MATERIAL).get(Tag.KEY) == plain

    kek = alice.create(ALG.AES, 256, cryptographic_usage_mask=[MASK.WRAP_KEY])
    alice.activate(kek)
    spec = S(Tag.KEY_WRAPPING_SPECIFICATION, E(Tag.WRAPPING_METHOD, 1),
             S(Tag.ENCRYPTION_KEY_INFORMATION, uid_item(kek)), E(Tag.ENCODING_OPTION, 1))
    p = ok(call(module_server, Op.EXPORT, uid_item(uid), spec))
    kb = p.find(Tag.SYMMETRIC_KEY).find(Tag.KEY_BLOCK)
    assert kb.find(Tag.KEY_WRAPPING_DATA) is not None
    wrapped = kb.find(Tag.KEY_VALUE).get(Tag.KEY_MATERIAL)
    assert wrapped != plain
    assert keywrap.aes_key_unwrap_with_padding(alice.get(kek).value, wrapped) == plain
    assert p.find(Tag.ATTRIBUTES).get(Tag.UNIQUE_IDENTIFIER) == uid


def test_export_refusals(module_server, alice):
    uid = alice.create(ALG.AES, 128)
    failed(call(module_server, Op.EXPORT, uid_item(uid), who="bob"), RR.ITEM_NOT_FOUND)
    failed(call(module_server, Op.EXPORT, uid_item("no-such-object")), RR.ITEM_NOT_FOUND)
    failed(call(module_server, Op.EXPORT), RR.MISSING_DATA)  # no uid, no placeholder
    failed(call(module_server, Op.EXPORT, uid_item(uid), E(Tag.OBJECT_TYPE, 2)),
           RR.INVALID_MESSAGE)  # not a field of Export
    failed(call(module_server, Op.EXPORT, uid_item(uid),
                E(Tag.KEY_FORMAT_TYPE, enums.KeyFormatType.PKCS_1.value)),
           RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)
    # material gone: the attributes alone are not an export
    alice.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid)
    alice.destroy(uid)
    failed(call(module_server, Op.EXPORT, uid_item(uid)), RR.KEY_VALUE_NOT_PRESENT)


def test_export_uses_the_id_placeholder(module_server):
    create = ttlv.batch_item(Op.CREATE, E(Tag.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY.value),
                             S(Tag.ATTRIBUTES, E(Tag.CRYPTOGRAPHIC_ALGORITHM, ALG.AES.value),
                               I(Tag.CRYPTOGRAPHIC_LENGTH, 128)))
    export = ttlv.batch_item(Op.EXPORT)
    r = ttlv.parse_response(kh_support.raw_request(module_server.port, "alice", ttlv.request(
        create, export, version=(2, 0))))
    assert [i.status for i in r.items] == [ttlv.STATUS_SUCCESS] * 2, r
    uid = r.items[0].payload.get(Tag.UNIQUE_IDENTIFIER)
    assert r.items[1].payload.get(Tag.UNIQUE_IDENTIFIER) == uid
    assert len(r.items[1].payload.find(Tag.SYMMETRIC_KEY).find(Tag.KEY_BLOCK)
               .find(Tag.KEY_VALUE).get(Tag.KEY_MATERIAL)) == 16


# ---- Query lists what works -------------------------------------------------------


def listed_operations(server, version):
    p = ok(call(server, Op.QUERY, E(Tag.QUERY_FUNCTION, 1), version=version))
    return [k.value for k in p.find_all(Tag.OPERATION)]


VERSIONS = [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0), (2, 1)]


@pytest.mark.parametrize("version", VERSIONS, ids=["%d.%d" % v for v in VERSIONS])
def test_query_lists_exactly_the_operations_that_answer(module_server, version):
    listed = listed_operations(module_server, version)
    assert len(listed) == len(set(listed))
    # Every KMIP operation code, listed or not, with an empty payload: a listed
    # one may fail for want of fields, never as unsupported; the others must.
    for op in range(0x01, 0x40):
        r = call(module_server, op, version=version)
        unsupported = (r.status == ttlv.STATUS_OPERATION_FAILED and
                       r.reason == RR.OPERATION_NOT_SUPPORTED.value)
        assert unsupported == (op not in listed), (version, hex(op), r)


def test_query_follows_the_protocol_version(module_server):
    by = {v: set(listed_operations(module_server, v)) for v in VERSIONS}
    crypto = {enums.Operation.ENCRYPT.value, enums.Operation.DECRYPT.value,
              enums.Operation.SIGN.value, enums.Operation.SIGNATURE_VERIFY.value,
              enums.Operation.MAC.value, enums.Operation.MAC_VERIFY.value,
              enums.Operation.RNG_RETRIEVE.value, enums.Operation.HASH.value}
    assert not crypto & by[(1, 0)] and not crypto & by[(1, 1)]
    assert crypto <= by[(1, 2)]
    assert Op.EXPORT not in by[(1, 3)] and Op.EXPORT in by[(1, 4)] and Op.EXPORT in by[(2, 0)]
    assert enums.Operation.REKEY_KEY_PAIR.value not in by[(1, 0)]
    assert enums.Operation.REKEY_KEY_PAIR.value in by[(1, 1)]
    assert enums.Operation.DISCOVER_VERSIONS.value in by[(1, 0)]


def test_export_follows_the_export_grant(module_server, alice, certs):
    """Export needs the `export` permission on someone else's object: `get`
    alone is not enough, and `export` alone gives the attributes too."""
    uid = alice.create(ALG.AES, 128, name="shared-for-export")

    def grant(perms):
        r = subprocess.run([str(kh_support.keyhold_bin()), "grant", "add", "--db",
                            "sqlite://" + str(module_server.db_path), "--owner",
                            certs.spki_sha256["alice"], "--object", uid, "--to",
                            certs.spki_sha256["bob"], "--permissions", perms],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr

    failed(call(module_server, Op.EXPORT, uid_item(uid), who="bob"), RR.ITEM_NOT_FOUND)
    grant("get")
    assert call(module_server, Op.GET, uid_item(uid), who="bob").status == ttlv.STATUS_SUCCESS
    failed(call(module_server, Op.EXPORT, uid_item(uid), who="bob"), RR.PERMISSION_DENIED)
    grant("export")
    p = ok(call(module_server, Op.EXPORT, uid_item(uid), who="bob"))
    assert p.find(Tag.ATTRIBUTES).find(Tag.NAME).get(Tag.NAME_VALUE) == "shared-for-export"
    assert p.find(Tag.SYMMETRIC_KEY).find(Tag.KEY_BLOCK).find(Tag.KEY_VALUE) \
        .get(Tag.KEY_MATERIAL) == alice.get(uid).value
