"""
Every managed object type keyhold stores, through PyKMIP's ProxyKmipClient
where it can say it and hand-encoded TTLV where it cannot: SplitKey with its
split fields (parts, part identifier, threshold, method, prime field size),
SecretData of each SecretDataType, OpaqueObject, and Locate by ObjectType
and by Name across all seven types.
"""
import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import exceptions as pie_exceptions
from kmip.pie import objects as pobjects

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import E, I, S, T, B

RR = enums.ResultReason
ALG = enums.CryptographicAlgorithm
OT = enums.ObjectType
SKM = enums.SplitKeyMethod
V = enums.KMIPVersion
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)
af = AttributeFactory()


class Tag:
    OBJECT_TYPE = 0x420057
    UNIQUE_IDENTIFIER = 0x420094
    TEMPLATE_ATTRIBUTE = 0x420091
    SPLIT_KEY = 0x420089
    SPLIT_KEY_METHOD = 0x42008A
    SPLIT_KEY_PARTS = 0x42008B
    SPLIT_KEY_THRESHOLD = 0x42008C
    KEY_PART_IDENTIFIER = 0x420044
    PRIME_FIELD_SIZE = 0x420062
    KEY_BLOCK = 0x420040
    KEY_FORMAT_TYPE = 0x420042
    KEY_VALUE = 0x420045
    KEY_MATERIAL = 0x420043
    CRYPTOGRAPHIC_ALGORITHM = 0x420028
    CRYPTOGRAPHIC_LENGTH = 0x42002A
    SECRET_DATA = 0x420085
    SECRET_DATA_TYPE = 0x420086


class Op:
    REGISTER = 0x03
    GET = 0x0A


def expect_failure(fn, *reasons):
    with pytest.raises(FAILURES) as ei:
        fn()
    assert ei.value.reason in reasons, ei.value
    return ei.value


def split_key(method=SKM.XOR, prime=None, parts=3, part=1, threshold=2, value=None):
    return pobjects.SplitKey(
        cryptographic_algorithm=ALG.AES, cryptographic_length=128,
        key_value=value or os.urandom(16), split_key_parts=parts, key_part_identifier=part,
        split_key_threshold=threshold, split_key_method=method, prime_field_size=prime)


# ---- SplitKey ---------------------------------------------------------------------


@pytest.mark.parametrize("method,prime", [
    (SKM.XOR, None),
    (SKM.POLYNOMIAL_SHARING_GF_2_16, None),
    (SKM.POLYNOMIAL_SHARING_GF_2_8, None),
    (SKM.POLYNOMIAL_SHARING_PRIME_FIELD, 104729),
    (SKM.POLYNOMIAL_SHARING_PRIME_FIELD, 2 ** 127 - 1),
])
@pytest.mark.parametrize("version", [V.KMIP_1_2, V.KMIP_2_0])
def test_split_key_round_trip(module_server, client, method, prime, version):
    c = client(module_server, version=version)
    sk = split_key(method, prime, parts=5, part=4, threshold=3)
    uid = c.register(sk)
    got = c.get(uid)
    assert isinstance(got, pobjects.SplitKey)
    assert got.object_type == OT.SPLIT_KEY
    assert got.value == sk.value
    assert got.cryptographic_algorithm == ALG.AES and got.cryptographic_length == 128
    assert (got.split_key_parts, got.key_part_identifier, got.split_key_threshold) == (5, 4, 3)
    assert got.split_key_method == method
    assert got.prime_field_size == prime
    attrs = {a.attribute_name.value: a.attribute_value.value
             for a in c.get_attributes(uid, ["Object Type", "Cryptographic Length"])[1]}
    assert attrs == {"Object Type": OT.SPLIT_KEY, "Cryptographic Length": 128}


def test_split_key_parts_of_one_key_are_separate_objects(module_server, client):
    c = client(module_server)
    values = [os.urandom(16) for _ in range(3)]
    uids = [c.register(split_key(part=i + 1, value=v)) for i, v in enumerate(values)]
    assert len(set(uids)) == 3
    got = [c.get(u) for u in uids]
    assert [g.value for g in got] == values
    assert [g.key_part_identifier for g in got] == [1, 2, 3]


def register_split_by_hand(server, *fields, key_block=True, version=(1, 2)):
    kb = S(Tag.KEY_BLOCK, E(Tag.KEY_FORMAT_TYPE, enums.KeyFormatType.RAW.value),
           S(Tag.KEY_VALUE, B(Tag.KEY_MATERIAL, os.urandom(16))),
           E(Tag.CRYPTOGRAPHIC_ALGORITHM, ALG.AES.value), I(Tag.CRYPTOGRAPHIC_LENGTH, 128))
    return kh_support.call(server.port, Op.REGISTER, E(Tag.OBJECT_TYPE, OT.SPLIT_KEY.value),
                           S(Tag.TEMPLATE_ATTRIBUTE),
                           S(Tag.SPLIT_KEY, *fields, kb if key_block else None), version=version)


def fields(parts=3, part=1, threshold=2, method=SKM.XOR.value, prime=None):
    out = [I(Tag.SPLIT_KEY_PARTS, parts) if parts is not None else None,
           I(Tag.KEY_PART_IDENTIFIER, part) if part is not None else None,
           I(Tag.SPLIT_KEY_THRESHOLD, threshold) if threshold is not None else None,
           E(Tag.SPLIT_KEY_METHOD, method) if method is not None else None]
    if prime is not None:
        out.append(ttlv.Item(Tag.PRIME_FIELD_SIZE, ttlv.BIG_INTEGER, prime))
    return [f for f in out if f is not None]


PRIME = (104729).to_bytes(8, "big")


@pytest.mark.parametrize("kw,reason", [
    (dict(threshold=4), RR.INVALID_FIELD),                       # threshold above parts
    (dict(threshold=0), RR.INVALID_FIELD),
    (dict(part=0), RR.INVALID_FIELD),
    (dict(part=4), RR.INVALID_FIELD),                            # no fourth part of three
    (dict(parts=0, threshold=0, part=0), RR.INVALID_FIELD),
    (dict(method=9), RR.INVALID_FIELD),                          # unknown method
    (dict(method=SKM.POLYNOMIAL_SHARING_PRIME_FIELD.value), RR.MISSING_DATA),  # no prime
    (dict(prime=PRIME), RR.INVALID_FIELD),                       # a prime for XOR
    (dict(method=SKM.POLYNOMIAL_SHARING_PRIME_FIELD.value, prime=b""), RR.INVALID_FIELD),
    (dict(method=SKM.POLYNOMIAL_SHARING_PRIME_FIELD.value, prime=bytes(8)), RR.INVALID_FIELD),
    (dict(method=SKM.POLYNOMIAL_SHARING_PRIME_FIELD.value, prime=b"\xff" * 8),
     RR.INVALID_FIELD),                                          # -1
    (dict(parts=None), RR.MISSING_DATA),
    (dict(part=None), RR.MISSING_DATA),
    (dict(threshold=None), RR.MISSING_DATA),
    (dict(method=None), RR.MISSING_DATA),
], ids=["threshold>parts", "threshold0", "part0", "part>parts", "parts0", "method?",
        "prime-missing", "prime-for-xor", "prime-empty", "prime-zero", "prime-negative",
        "no-parts", "no-part", "no-threshold", "no-method"])
def test_split_key_refusals(module_server, kw, reason):
    r = register_split_by_hand(module_server, *fields(**kw))
    assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, reason.value), r


def test_split_key_needs_a_key_block(module_server):
    r = register_split_by_hand(module_server, *fields(), key_block=False)
    assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, RR.MISSING_DATA.value), r


def test_split_key_by_hand_kmip_2_1(module_server):
    r = register_split_by_hand(module_server, *fields(5, 2, 3, SKM.POLYNOMIAL_SHARING_PRIME_FIELD
                                                      .value, PRIME), version=(2, 1))
    assert r.status == ttlv.STATUS_SUCCESS, r
    uid = r.payload.get(Tag.UNIQUE_IDENTIFIER)
    g = kh_support.call(module_server.port, Op.GET, T(Tag.UNIQUE_IDENTIFIER, uid), version=(2, 1))
    assert g.status == ttlv.STATUS_SUCCESS, g
    sk = g.payload.find(Tag.SPLIT_KEY)
    assert sk.get(Tag.SPLIT_KEY_PARTS) == 5 and sk.get(Tag.KEY_PART_IDENTIFIER) == 2
    assert sk.get(Tag.SPLIT_KEY_THRESHOLD) == 3
    assert sk.get(Tag.SPLIT_KEY_METHOD) == SKM.POLYNOMIAL_SHARING_PRIME_FIELD.value
    assert sk.get(Tag.PRIME_FIELD_SIZE) == PRIME


# ---- SecretData and OpaqueObject --------------------------------------------------


@pytest.mark.parametrize("data_type", [enums.SecretDataType.PASSWORD, enums.SecretDataType.SEED])
@pytest.mark.parametrize("version", [V.KMIP_1_0, V.KMIP_1_4, V.KMIP_2_0])
def test_secret_data_keeps_its_type(module_server, client, data_type, version):
    c = client(module_server, version=version)
    value = os.urandom(48) if data_type == enums.SecretDataType.SEED else b"hunter2 \xe2\x98\x83"
    uid = c.register(pobjects.SecretData(value, data_type, name="sd-%s" % data_type.name))
    got = c.get(uid)
    assert isinstance(got, pobjects.SecretData)
    assert got.data_type == data_type and got.value == value


def test_secret_data_unknown_type_refused(module_server):
    kb = S(Tag.KEY_BLOCK, E(Tag.KEY_FORMAT_TYPE, enums.KeyFormatType.OPAQUE.value),
           S(Tag.KEY_VALUE, B(Tag.KEY_MATERIAL, b"x")))
    for bad, reason in ((7, RR.INVALID_FIELD), (None, RR.MISSING_DATA)):
        sd = S(Tag.SECRET_DATA, E(Tag.SECRET_DATA_TYPE, bad) if bad is not None else None, kb)
        r = kh_support.call(module_server.port, Op.REGISTER,
                            E(Tag.OBJECT_TYPE, OT.SECRET_DATA.value), S(Tag.TEMPLATE_ATTRIBUTE), sd)
        assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, reason.value), r


def test_opaque_object_round_trip(module_server, client):
    c = client(module_server)
    blob = os.urandom(3000)
    uid = c.register(pobjects.OpaqueObject(blob, enums.OpaqueDataType.NONE, name="opaque-1"))
    got = c.get(uid)
    assert isinstance(got, pobjects.OpaqueObject)
    assert got.value == blob and got.opaque_type == enums.OpaqueDataType.NONE


# ---- Locate across every type -------------------------------------------------------


def certificate():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "object types test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return pobjects.X509Certificate(cert.public_bytes(serialization.Encoding.DER), name="n-cert")


def test_locate_by_type_and_name_covers_every_type(server, client):
    c = client(server)
    uids = {}
    uids[OT.SYMMETRIC_KEY] = c.create(ALG.AES, 256, name="n-sym")
    priv_pub = c.create_key_pair(ALG.RSA, 2048, public_name="n-pub", private_name="n-priv")
    uids[OT.PUBLIC_KEY], uids[OT.PRIVATE_KEY] = priv_pub[0], priv_pub[1]
    uids[OT.CERTIFICATE] = c.register(certificate())
    uids[OT.SECRET_DATA] = c.register(pobjects.SecretData(b"pw", enums.SecretDataType.PASSWORD,
                                                          name="n-secret"))
    uids[OT.OPAQUE_DATA] = c.register(pobjects.OpaqueObject(b"blob", enums.OpaqueDataType.NONE,
                                                            name="n-opaque"))
    sk = split_key()
    sk.names = ["n-split"]
    uids[OT.SPLIT_KEY] = c.register(sk)
    names = {OT.SYMMETRIC_KEY: "n-sym", OT.PUBLIC_KEY: "n-pub", OT.PRIVATE_KEY: "n-priv",
             OT.CERTIFICATE: "n-cert", OT.SECRET_DATA: "n-secret", OT.OPAQUE_DATA: "n-opaque",
             OT.SPLIT_KEY: "n-split"}
    for t, uid in uids.items():
        assert c.locate(attributes=[af.create_attribute(enums.AttributeType.OBJECT_TYPE, t)]) \
            == [uid], t
        assert c.locate(attributes=[af.create_attribute(enums.AttributeType.NAME,
                                                        names[t])]) == [uid], t
        both = [af.create_attribute(enums.AttributeType.NAME, names[t]),
                af.create_attribute(enums.AttributeType.OBJECT_TYPE, t)]
        assert c.locate(attributes=both) == [uid], t
    assert sorted(c.locate()) == sorted(uids.values())
    # Nobody else sees any of them, whatever the type.
    bob = client(server, who="bob")
    for t in uids:
        assert bob.locate(attributes=[af.create_attribute(enums.AttributeType.OBJECT_TYPE,
                                                          t)]) == []
    for uid in uids.values():
        expect_failure(lambda: bob.get(uid), RR.ITEM_NOT_FOUND)


def test_query_lists_every_object_type(module_server, client):
    c = client(module_server)
    res = c.proxy.query(query_functions=[enums.QueryFunction.QUERY_OBJECTS])
    assert set(res.object_types) == {OT.SYMMETRIC_KEY, OT.PUBLIC_KEY, OT.PRIVATE_KEY,
                                      OT.CERTIFICATE, OT.SECRET_DATA, OT.OPAQUE_DATA,
                                      OT.SPLIT_KEY}
