"""
KMIP operations through PyKMIP's ProxyKmipClient (the way real clients talk):
create, register, get, attributes, lifecycle, locate, query, versions,
per-user isolation and persistence across a restart.
"""
import datetime
import functools
import os
import stat
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from kmip.core import enums, misc
from kmip.core import exceptions as core_exceptions
from kmip.core import objects as cobjects
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.messages import contents
from kmip.pie import exceptions as pie_exceptions
from kmip.pie import objects as pobjects

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import Op, Tag

RR = enums.ResultReason
ALG = enums.CryptographicAlgorithm
V = enums.KMIPVersion
af = AttributeFactory()

FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)


def expect_failure(fn, *reasons):
    """fn() must fail with ResultStatus OperationFailed and one of reasons."""
    with pytest.raises(FAILURES) as ei:
        fn()
    e = ei.value
    assert e.status == enums.ResultStatus.OPERATION_FAILED, e
    assert e.reason in reasons, "got %s, expected one of %s (%s)" % (e.reason, reasons, e)
    return e


def attr_map(attributes):
    """[Attribute] -> {name: [plain values]}."""
    out = {}
    for a in attributes:
        v = a.attribute_value
        if hasattr(v, "name_value"):
            v = v.name_value.value
        elif hasattr(v, "value"):
            v = v.value
        out.setdefault(a.attribute_name.value, []).append(v)
    return out


def attrs_of(c, uid, names=None):
    got_uid, attributes = c.get_attributes(uid, names)
    assert got_uid == uid
    return attr_map(attributes)


def state_of(c, uid):
    return attrs_of(c, uid, ["State"])["State"]


def locate(c, *attrs, **kw):
    return c.locate(attributes=list(attrs) or None, **kw)


def a_name(v):
    return af.create_attribute(enums.AttributeType.NAME, v)


def a_type(v):
    return af.create_attribute(enums.AttributeType.OBJECT_TYPE, v)


def a_alg(v):
    return af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM, v)


def a_len(v):
    return af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, v)


def a_state(v):
    return af.create_attribute(enums.AttributeType.STATE, v)


def raw(server, op, *payload, who="alice", version=(1, 2)):
    return kh_support.call(server.port, op, *payload, who=who, version=version)


def add_attribute(server, uid, name, value_item, who="alice"):
    """AddAttribute (KMIP 1.2) by hand: PyKMIP 0.10 has no AddAttribute."""
    return raw(server, Op.ADD_ATTRIBUTE, ttlv.T(Tag.UNIQUE_IDENTIFIER, uid),
               ttlv.attribute_v1(name, value_item), who=who)


def name_value(text):
    return ttlv.S(Tag.ATTRIBUTE_VALUE, ttlv.T(Tag.NAME_VALUE, text), ttlv.E(Tag.NAME_TYPE, 1))


# ---- material for Register ----------------------------------------------------


@functools.lru_cache(maxsize=None)
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.lru_cache(maxsize=None)
def certificate_der():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registered by a test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def make_object(kind):
    if kind == "symmetric":
        return pobjects.SymmetricKey(ALG.AES, 256, os.urandom(32))
    if kind == "secret":
        return pobjects.SecretData(b"correct horse battery staple", enums.SecretDataType.PASSWORD)
    if kind == "opaque":
        return pobjects.OpaqueObject(os.urandom(100), enums.OpaqueDataType.NONE)
    if kind == "certificate":
        return pobjects.X509Certificate(certificate_der())
    if kind == "public":
        der = rsa_key().public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.PKCS1)
        return pobjects.PublicKey(ALG.RSA, 2048, der, enums.KeyFormatType.PKCS_1)
    if kind == "private":
        der = rsa_key().private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        return pobjects.PrivateKey(ALG.RSA, 2048, der, enums.KeyFormatType.PKCS_8)
    raise ValueError(kind)


OBJECT_TYPES = {
    "symmetric": enums.ObjectType.SYMMETRIC_KEY,
    "secret": enums.ObjectType.SECRET_DATA,
    "opaque": enums.ObjectType.OPAQUE_DATA,
    "certificate": enums.ObjectType.CERTIFICATE,
    "public": enums.ObjectType.PUBLIC_KEY,
    "private": enums.ObjectType.PRIVATE_KEY,
}


# ---- Create and Get --------------------------------------------------------------


@pytest.mark.parametrize("alg,bits", [(ALG.AES, 128), (ALG.AES, 192), (ALG.AES, 256),
                                      (ALG.HMAC_SHA256, 256)],
                         ids=["aes128", "aes192", "aes256", "hmac-sha256"])
def test_create_symmetric_key(module_server, client, alg, bits):
    c = client(module_server)
    uid = c.create(alg, bits)
    key = c.get(uid)
    assert isinstance(key, pobjects.SymmetricKey)
    assert key.object_type == enums.ObjectType.SYMMETRIC_KEY
    assert key.cryptographic_algorithm == alg
    assert key.cryptographic_length == bits
    assert key.key_format_type == enums.KeyFormatType.RAW
    assert len(key.value) == bits // 8
    a = attrs_of(c, uid)
    assert a["Unique Identifier"] == [uid]
    assert a["Object Type"] == [enums.ObjectType.SYMMETRIC_KEY]
    assert a["Cryptographic Algorithm"] == [alg]
    assert a["Cryptographic Length"] == [bits]
    assert a["State"] == [enums.State.PRE_ACTIVE]


def test_created_keys_are_fresh(module_server, client):
    c = client(module_server)
    values = {c.get(c.create(ALG.AES, 256)).value for _ in range(4)}
    assert len(values) == 4
    assert all(v != bytes(32) for v in values)


@pytest.mark.parametrize("alg,bits", [(ALG.AES, 100), (ALG.AES, 512), (ALG.AES, 0x7FFFFFF8)])
def test_create_bad_length(module_server, client, alg, bits):
    c = client(module_server)
    # An impossible length is a bad field value; FEATURE_NOT_SUPPORTED is defensible too.
    expect_failure(lambda: c.create(alg, bits), RR.INVALID_FIELD, RR.FEATURE_NOT_SUPPORTED)


# ---- Register and Get ------------------------------------------------------------


@pytest.mark.parametrize("kind", list(OBJECT_TYPES))
def test_register_get_roundtrip(module_server, client, kind):
    c = client(module_server)
    obj = make_object(kind)
    uid = c.register(obj)
    got = c.get(uid)
    assert type(got) is type(obj)
    assert got.object_type == OBJECT_TYPES[kind]
    assert got.value == obj.value
    if kind in ("symmetric", "public", "private"):
        assert got.cryptographic_algorithm == obj.cryptographic_algorithm
        assert got.cryptographic_length == obj.cryptographic_length
        assert got.key_format_type == obj.key_format_type
    elif kind == "secret":
        assert got.data_type == enums.SecretDataType.PASSWORD
    elif kind == "opaque":
        assert got.opaque_type == enums.OpaqueDataType.NONE
    elif kind == "certificate":
        assert got.certificate_type == enums.CertificateType.X_509
    a = attrs_of(c, uid, ["Object Type", "State"])
    assert a == {"Object Type": [OBJECT_TYPES[kind]], "State": [enums.State.PRE_ACTIVE]}


def test_get_in_another_key_format_is_refused(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 128)
    res = c.proxy.get(uid, key_format_type=misc.KeyFormatType(enums.KeyFormatType.PKCS_1))
    assert res.result_status.value == enums.ResultStatus.OPERATION_FAILED
    assert res.result_reason.value == RR.KEY_FORMAT_TYPE_NOT_SUPPORTED
    res = c.proxy.get(uid, key_format_type=misc.KeyFormatType(enums.KeyFormatType.RAW))
    assert res.result_status.value == enums.ResultStatus.SUCCESS


def test_get_unknown_uid(module_server, client):
    c = client(module_server)
    for uid in ("no-such-object", "", "1", "x" * 300):
        expect_failure(lambda: c.get(uid), RR.ITEM_NOT_FOUND)


# ---- attributes ------------------------------------------------------------------


def test_get_attributes_all_and_by_name(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 256, name="attrs-all-by-name",
                   cryptographic_usage_mask=[enums.CryptographicUsageMask.WRAP_KEY])
    a = attrs_of(c, uid)
    assert a["Unique Identifier"] == [uid]
    assert a["Object Type"] == [enums.ObjectType.SYMMETRIC_KEY]
    assert a["Cryptographic Algorithm"] == [ALG.AES]
    assert a["Cryptographic Length"] == [256]
    assert a["State"] == [enums.State.PRE_ACTIVE]
    assert a["Name"] == ["attrs-all-by-name"]
    mask = (enums.CryptographicUsageMask.ENCRYPT.value | enums.CryptographicUsageMask.DECRYPT.value
            | enums.CryptographicUsageMask.WRAP_KEY.value)
    assert a["Cryptographic Usage Mask"] == [mask]
    assert abs(a["Initial Date"][0] - time.time()) < 300
    for name, values in a.items():
        if name != "Name":
            assert len(values) == 1, (name, values)

    assert attrs_of(c, uid, ["State", "Cryptographic Length"]) == {
        "State": [enums.State.PRE_ACTIVE], "Cryptographic Length": [256]}
    # An attribute the object does not have is left out, not an error.
    assert attrs_of(c, uid, ["State", "Contact Information"]) == {
        "State": [enums.State.PRE_ACTIVE]}
    assert attrs_of(c, uid, ["x-never-set"]) == {}

    names = c.get_attribute_list(uid)
    assert len(names) == len(set(names)), names
    assert set(names) == set(a), (names, sorted(a))


def test_custom_attribute_add_modify_delete(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 128)
    r = add_attribute(module_server, uid, "x-purpose", ttlv.T(0, "finance"))
    assert r.status == ttlv.STATUS_SUCCESS, r
    assert r.payload.get(Tag.UNIQUE_IDENTIFIER) == uid
    echoed = r.payload.find(Tag.ATTRIBUTE)
    assert echoed is not None and echoed.get(Tag.ATTRIBUTE_NAME) == "x-purpose"
    assert echoed.get(Tag.ATTRIBUTE_VALUE) == "finance"
    assert attrs_of(c, uid, ["x-purpose"]) == {"x-purpose": ["finance"]}
    assert "x-purpose" in c.get_attribute_list(uid)

    new = cobjects.Attribute(
        attribute_name=cobjects.Attribute.AttributeName("x-purpose"),
        attribute_index=cobjects.Attribute.AttributeIndex(0),
        attribute_value=af.create_attribute("x-purpose", "operations").attribute_value)
    got_uid, attr = c.modify_attribute(unique_identifier=uid, attribute=new)
    assert got_uid == uid
    assert attrs_of(c, uid, ["x-purpose"]) == {"x-purpose": ["operations"]}

    got_uid, _ = c.delete_attribute(unique_identifier=uid, attribute_name="x-purpose",
                                    attribute_index=0)
    assert got_uid == uid
    assert attrs_of(c, uid, ["x-purpose"]) == {}
    assert "x-purpose" not in c.get_attribute_list(uid)
    # KMIP 1.x has no "attribute not found" reason; 2.0 added ATTRIBUTE_NOT_FOUND.
    expect_failure(lambda: c.delete_attribute(unique_identifier=uid, attribute_name="x-purpose",
                                              attribute_index=0),
                   RR.ITEM_NOT_FOUND, RR.ATTRIBUTE_NOT_FOUND)
    # Modifying an attribute that is not there fails the same way.
    expect_failure(lambda: c.modify_attribute(unique_identifier=uid, attribute=new),
                   RR.ITEM_NOT_FOUND, RR.ATTRIBUTE_NOT_FOUND)


def test_add_server_attribute_is_refused(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 128)
    for name, value in (("Unique Identifier", ttlv.T(0, "forged")),
                        ("State", ttlv.E(0, enums.State.ACTIVE.value))):
        r = add_attribute(module_server, uid, name, value)
        assert r.status == ttlv.STATUS_OPERATION_FAILED, (name, r)
        # 1.x says Permission Denied for read-only attributes; 2.x ATTRIBUTE_READ_ONLY.
        assert r.reason in (RR.PERMISSION_DENIED.value, RR.ATTRIBUTE_READ_ONLY.value,
                            RR.INDEX_OUT_OF_BOUNDS.value), (name, r)
    assert attrs_of(c, uid, ["Unique Identifier", "State"]) == {
        "Unique Identifier": [uid], "State": [enums.State.PRE_ACTIVE]}


def test_name_add_modify_delete(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 128, name="name-one")
    r = add_attribute(module_server, uid, "Name", name_value("name-two"))
    assert r.status == ttlv.STATUS_SUCCESS, r
    assert r.payload.find(Tag.ATTRIBUTE).get(Tag.ATTRIBUTE_INDEX) == 1
    assert sorted(attrs_of(c, uid, ["Name"])["Name"]) == ["name-one", "name-two"]
    assert locate(c, a_name("name-two")) == [uid]

    new = af.create_attribute(enums.AttributeType.NAME, "name-three", index=1)
    c.modify_attribute(unique_identifier=uid, attribute=new)
    assert sorted(attrs_of(c, uid, ["Name"])["Name"]) == ["name-one", "name-three"]
    assert locate(c, a_name("name-two")) == []
    assert locate(c, a_name("name-three")) == [uid]

    c.delete_attribute(unique_identifier=uid, attribute_name="Name", attribute_index=0)
    assert attrs_of(c, uid, ["Name"])["Name"] == ["name-three"]
    assert locate(c, a_name("name-one")) == []
    assert locate(c, a_name("name-three")) == [uid]


# ---- lifecycle -------------------------------------------------------------------

# Acting on an object in the wrong state: 1.x servers answer Illegal Operation or
# Permission Denied, 2.x has Wrong Key Lifecycle State.
WRONG_STATE = (RR.ILLEGAL_OPERATION, RR.PERMISSION_DENIED, RR.WRONG_KEY_LIFECYCLE_STATE)
# Get of a destroyed object: its material is gone.
GONE = (RR.ITEM_NOT_FOUND, RR.KEY_VALUE_NOT_PRESENT, RR.OBJECT_DESTROYED,
        RR.WRONG_KEY_LIFECYCLE_STATE)


def test_activate_twice(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 256)
    c.activate(uid)
    a = attrs_of(c, uid, ["State", "Activation Date"])
    assert a["State"] == [enums.State.ACTIVE]
    assert abs(a["Activation Date"][0] - time.time()) < 300
    expect_failure(lambda: c.activate(uid), *WRONG_STATE)
    assert state_of(c, uid) == [enums.State.ACTIVE]
    expect_failure(lambda: c.activate("no-such-object"), RR.ITEM_NOT_FOUND)


def test_revoke_compromise_then_destroy(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 256)
    c.activate(uid)
    c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid, revocation_message="leaked",
             compromise_occurrence_date=int(time.time()) - 3600)
    assert state_of(c, uid) == [enums.State.COMPROMISED]
    assert len(c.get(uid).value) == 32  # still readable, for forensics
    c.destroy(uid)
    assert state_of(c, uid) == [enums.State.DESTROYED_COMPROMISED]
    expect_failure(lambda: c.get(uid), *GONE)
    expect_failure(lambda: c.destroy(uid), *WRONG_STATE)


def test_revoke_unspecified_deactivates(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 256)
    c.activate(uid)
    c.revoke(enums.RevocationReasonCode.UNSPECIFIED, uid)
    assert state_of(c, uid) == [enums.State.DEACTIVATED]
    c.destroy(uid)
    a = attrs_of(c, uid, ["State", "Destroy Date", "Object Type"])
    assert a["State"] == [enums.State.DESTROYED]
    assert a["Object Type"] == [enums.ObjectType.SYMMETRIC_KEY]
    assert "Destroy Date" in a
    expect_failure(lambda: c.get(uid), *GONE)
    assert "State" in c.get_attribute_list(uid)
    # A destroyed key learnt to be compromised moves to Destroyed Compromised.
    c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid)
    assert state_of(c, uid) == [enums.State.DESTROYED_COMPROMISED]


def test_destroy_active_is_refused(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 128)
    c.activate(uid)
    expect_failure(lambda: c.destroy(uid), *WRONG_STATE)
    assert state_of(c, uid) == [enums.State.ACTIVE]
    assert len(c.get(uid).value) == 16


def test_destroy_pre_active(module_server, client):
    c = client(module_server)
    uid = c.register(make_object("secret"))
    c.destroy(uid)
    assert state_of(c, uid) == [enums.State.DESTROYED]
    expect_failure(lambda: c.get(uid), *GONE)
    expect_failure(lambda: c.destroy("no-such-object"), RR.ITEM_NOT_FOUND)


def test_revoke_needs_a_valid_reason(module_server, client):
    c = client(module_server)
    uid = c.create(ALG.AES, 128)
    c.activate(uid)
    r = raw(module_server, Op.REVOKE, ttlv.T(Tag.UNIQUE_IDENTIFIER, uid),
            ttlv.S(0x420081, ttlv.E(0x420082, 0x7777)))  # RevocationReason{Code}
    assert r.status == ttlv.STATUS_OPERATION_FAILED and r.reason == RR.INVALID_FIELD.value, r
    r = raw(module_server, Op.REVOKE, ttlv.T(Tag.UNIQUE_IDENTIFIER, uid))
    assert r.status == ttlv.STATUS_OPERATION_FAILED and r.reason == RR.MISSING_DATA.value, r
    assert state_of(c, uid) == [enums.State.ACTIVE]


# ---- Locate ----------------------------------------------------------------------


def test_locate(server, client):
    c = client(server)
    k1 = c.create(ALG.AES, 128, name="loc-1")
    k2 = c.create(ALG.AES, 256, name="loc-2")
    k3 = c.create(ALG.AES, 256, name="loc-3")
    h1 = c.create(ALG.HMAC_SHA256, 256)
    s1 = c.register(make_object("secret"))
    c.activate(k3)
    everything = {k1, k2, k3, h1, s1}

    found = locate(c)
    assert sorted(found) == sorted(everything)
    assert locate(c, a_name("loc-2")) == [k2]
    assert locate(c, a_name("loc-")) == []  # names match exactly
    assert locate(c, a_name("nothing by that name")) == []
    assert locate(c, a_type(enums.ObjectType.SECRET_DATA)) == [s1]
    assert set(locate(c, a_type(enums.ObjectType.SYMMETRIC_KEY))) == {k1, k2, k3, h1}
    assert locate(c, a_type(enums.ObjectType.CERTIFICATE)) == []
    assert set(locate(c, a_alg(ALG.AES))) == {k1, k2, k3}
    assert locate(c, a_alg(ALG.HMAC_SHA256)) == [h1]
    assert set(locate(c, a_len(256))) == {k2, k3, h1}
    assert set(locate(c, a_alg(ALG.AES), a_len(256))) == {k2, k3}
    assert locate(c, a_state(enums.State.ACTIVE)) == [k3]
    assert set(locate(c, a_state(enums.State.PRE_ACTIVE))) == everything - {k3}
    assert locate(c, a_state(enums.State.ACTIVE), a_name("loc-1")) == []

    two = locate(c, maximum_items=2)
    assert len(two) == 2 and set(two) <= everything
    assert len(locate(c, a_alg(ALG.AES), maximum_items=1)) == 1


def test_locate_offset_items(server, client):
    c = client(server, version=V.KMIP_1_4)
    uids = {c.create(ALG.AES, 128) for _ in range(5)}
    pages = [locate(c, maximum_items=2, offset_items=off) for off in (0, 2, 4)]
    assert [len(p) for p in pages] == [2, 2, 1]
    flat = [u for p in pages for u in p]
    assert len(set(flat)) == 5 and set(flat) == uids
    assert locate(c, offset_items=5) == []
    assert locate(c, offset_items=100, maximum_items=3) == []
    assert set(locate(c, offset_items=3)) <= uids and len(locate(c, offset_items=3)) == 2


# ---- Query and DiscoverVersions --------------------------------------------------


def test_query(module_server, client):
    c = client(module_server)
    res = c.proxy.query(query_functions=[enums.QueryFunction.QUERY_OPERATIONS,
                                         enums.QueryFunction.QUERY_OBJECTS])
    assert res.result_status.value == enums.ResultStatus.SUCCESS
    ops = set(res.operations)
    O = enums.Operation
    assert {O.CREATE, O.REGISTER, O.GET, O.GET_ATTRIBUTES, O.GET_ATTRIBUTE_LIST,
            O.ADD_ATTRIBUTE, O.MODIFY_ATTRIBUTE, O.DELETE_ATTRIBUTE, O.ACTIVATE, O.REVOKE,
            O.DESTROY, O.LOCATE, O.QUERY, O.DISCOVER_VERSIONS} <= ops
    assert set(OBJECT_TYPES.values()) <= set(res.object_types)

    res = c.proxy.query(query_functions=[enums.QueryFunction.QUERY_SERVER_INFORMATION])
    assert res.result_status.value == enums.ResultStatus.SUCCESS
    assert res.vendor_identification and "keyhold" in str(res.vendor_identification).lower()


def test_discover_versions(module_server, client):
    c = client(module_server)
    res = c.proxy.discover_versions()
    assert res.result_status.value == enums.ResultStatus.SUCCESS
    got = [(v.major, v.minor) for v in res.protocol_versions]
    for v in [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0)]:
        assert v in got, got
    assert got == sorted(got, reverse=True), "versions must come newest first: %s" % got

    ask = [contents.ProtocolVersion(1, 4), contents.ProtocolVersion(9, 9),
           contents.ProtocolVersion(1, 0)]
    res = c.proxy.discover_versions(protocol_versions=ask)
    assert res.result_status.value == enums.ResultStatus.SUCCESS
    assert [(v.major, v.minor) for v in res.protocol_versions] == [(1, 4), (1, 0)]

    res = c.proxy.discover_versions(protocol_versions=[contents.ProtocolVersion(7, 1)])
    assert res.result_status.value == enums.ResultStatus.SUCCESS
    assert not res.protocol_versions


# ---- the core flow in every version PyKMIP speaks ------------------------------------


@pytest.mark.parametrize("version", [V.KMIP_1_0, V.KMIP_1_1, V.KMIP_1_2, V.KMIP_1_3, V.KMIP_1_4,
                                     V.KMIP_2_0], ids=lambda v: v.name)
def test_core_flow(module_server, client, version):
    c = client(module_server, version=version)
    name = "core-flow-%s" % version.name
    uid = c.create(ALG.AES, 256, name=name)
    key = c.get(uid)
    assert len(key.value) == 32 and key.cryptographic_algorithm == ALG.AES
    assert locate(c, a_name(name)) == [uid]

    secret = make_object("secret")
    sid = c.register(secret)
    assert c.get(sid).value == secret.value

    c.activate(uid)
    expect_failure(lambda: c.destroy(uid), *WRONG_STATE)
    c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
    c.destroy(uid)
    c.destroy(sid)
    expect_failure(lambda: c.get(uid), *GONE)
    expect_failure(lambda: c.get(sid), *GONE)
    expect_failure(lambda: c.get("no-such-object"), RR.ITEM_NOT_FOUND)


# ---- isolation between users -------------------------------------------------------


def test_isolation(server, client):
    alice = client(server, "alice")
    bob = client(server, "bob")
    k = alice.create(ALG.AES, 256, name="shared-name")
    s = alice.register(make_object("secret"))
    material = alice.get(k).value
    mine = bob.create(ALG.AES, 128, name="shared-name")

    for uid in (k, s):
        expect_failure(lambda: bob.get(uid), RR.ITEM_NOT_FOUND)
        expect_failure(lambda: bob.get_attributes(uid), RR.ITEM_NOT_FOUND)
        expect_failure(lambda: bob.get_attributes(uid, ["State"]), RR.ITEM_NOT_FOUND)
        expect_failure(lambda: bob.get_attribute_list(uid), RR.ITEM_NOT_FOUND)
        expect_failure(lambda: bob.activate(uid), RR.ITEM_NOT_FOUND)
        expect_failure(lambda: bob.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid),
                       RR.ITEM_NOT_FOUND)
        expect_failure(lambda: bob.destroy(uid), RR.ITEM_NOT_FOUND)
        expect_failure(lambda: bob.delete_attribute(unique_identifier=uid, attribute_name="Name",
                                                    attribute_index=0), RR.ITEM_NOT_FOUND)
        r = add_attribute(server, uid, "x-owner", ttlv.T(0, "bob"), who="bob")
        assert r.status == ttlv.STATUS_OPERATION_FAILED, r
        assert r.reason == RR.ITEM_NOT_FOUND.value, r

    assert locate(bob) == [mine]
    assert locate(bob, a_name("shared-name")) == [mine]
    assert locate(bob, a_type(enums.ObjectType.SECRET_DATA)) == []
    assert locate(alice, a_name("shared-name")) == [k]
    expect_failure(lambda: alice.get(mine), RR.ITEM_NOT_FOUND)

    # Nothing bob tried changed alice's objects.
    assert alice.get(k).value == material
    assert attrs_of(alice, k, ["State", "Name"]) == {"State": [enums.State.PRE_ACTIVE],
                                                    "Name": ["shared-name"]}
    assert "x-owner" not in alice.get_attribute_list(s)
    assert state_of(alice, s) == [enums.State.PRE_ACTIVE]


# ---- persistence -------------------------------------------------------------------


def test_restart_keeps_everything(server, client):
    c = client(server)
    created = [c.create(ALG.AES, bits) for bits in (128, 192, 256)]
    created.append(c.create(ALG.HMAC_SHA256, 256, name="survives-restart"))
    registered = [c.register(make_object(k)) for k in ("secret", "opaque", "public", "private",
                                                       "certificate")]
    c.activate(created[0])
    c.activate(created[1])
    c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, created[1])
    c.destroy(registered[0])
    uids = created + registered
    before = {}
    for uid in uids:
        state = state_of(c, uid)
        value = None if uid == registered[0] else c.get(uid).value
        before[uid] = (value, state)
    located = sorted(locate(c))
    old_port = server.port
    c.close()

    server.restart()
    assert server.port and server.port > 0
    c2 = client(server)
    for uid in uids:
        value, state = before[uid]
        assert state_of(c2, uid) == state, uid
        if value is not None:
            assert c2.get(uid).value == value, uid
    expect_failure(lambda: c2.get(registered[0]), *GONE)
    assert sorted(locate(c2)) == located
    assert locate(c2, a_name("survives-restart")) == [created[3]]
    assert len(c2.get(c2.create(ALG.AES, 128)).value) == 16
    assert old_port  # the port may change (port 0); the data may not

    assert stat.S_IMODE(os.stat(server.master_key).st_mode) == 0o600
    assert server.db_path.exists()


def test_wrong_master_key_is_refused(server, client, tmp_path):
    c = client(server)
    uid = c.create(ALG.AES, 256)
    value = c.get(uid).value
    c.close()
    server.stop()

    other_key = tmp_path / "other-master.key"
    server.ready_file.unlink()
    log = tmp_path / "wrong-key.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(server.args(master_key=other_key), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        rc = proc.wait(timeout=kh_support.scaled(10))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
    text = log.read_text(errors="replace")
    assert rc is not None, "keyhold kept running with the wrong master key:\n" + text
    assert rc != 0, "keyhold accepted the wrong master key:\n" + text
    assert not server.ready_file.exists(), text
    for marker in kh_support.SANITIZER_MARKERS:
        assert marker not in text, text

    server.start()
    assert client(server).get(uid).value == value


def test_material_is_sealed_at_rest(server, client):
    """Key material never reaches the SQLite files in the clear."""
    c = client(server)
    key = os.urandom(32)
    password = b"sealed-at-rest-" + os.urandom(8).hex().encode()
    opaque = os.urandom(64)
    c.register(pobjects.SymmetricKey(ALG.AES, 256, key))
    c.register(pobjects.SecretData(password, enums.SecretDataType.PASSWORD))
    c.register(pobjects.OpaqueObject(opaque, enums.OpaqueDataType.NONE))
    generated = c.get(c.create(ALG.AES, 256)).value
    c.close()
    server.stop()  # checkpoint the WAL; the -wal file is checked too if it stays
    master_hex = server.master_key.read_text().strip().lower().encode()
    files = [p for p in server.db_path.parent.iterdir()
             if p.name.startswith(server.db_path.name)]
    assert files
    for p in files:
        blob = p.read_bytes()
        for secret in (key, password, opaque, generated, key.hex().encode(),
                       generated.hex().encode()):
            assert secret not in blob, "%s holds key material in the clear" % p.name
        assert master_hex not in blob.lower(), "%s holds the master key" % p.name
    server.start()


def _register_raw_symmetric(server, material, bits):
    key = ttlv.S(0x42008F, ttlv.S(0x420040,                       # SymmetricKey{KeyBlock{
        ttlv.E(0x420042, enums.KeyFormatType.RAW.value),           # KeyFormatType
        ttlv.S(0x420045, ttlv.B(0x420043, material)),              # KeyValue{KeyMaterial}
        ttlv.E(Tag.CRYPTOGRAPHIC_ALGORITHM, ALG.AES.value),
        ttlv.I(Tag.CRYPTOGRAPHIC_LENGTH, bits)))
    return raw(server, Op.REGISTER, ttlv.E(Tag.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY.value),
               ttlv.S(Tag.TEMPLATE_ATTRIBUTE), key)


def test_register_symmetric_key_length_must_match_material(module_server):
    ok = _register_raw_symmetric(module_server, os.urandom(16), 128)
    assert ok.status == ttlv.STATUS_SUCCESS, ok
    for material, bits in ((os.urandom(16), 256), (os.urandom(7), 56), (os.urandom(32), 128),
                           (b"", 0)):
        r = _register_raw_symmetric(module_server, material, bits)
        assert r.status == ttlv.STATUS_OPERATION_FAILED, (
            "registered a %d-byte AES key declared as %d bits" % (len(material), bits))
        assert r.reason == RR.INVALID_FIELD.value, r
