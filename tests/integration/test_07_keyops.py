"""
Keys out of keys over KMIP: Get wrapped by another managed key (AES key
wrap with padding, AES key wrap, RSA-OAEP, RSA-OAEP + AES-KWP), Get in
another key format, ReKey, ReKeyKeyPair and DeriveKey.

Every result is undone or recomputed locally with Python's `cryptography`
from the bytes a plain Get returns: a wrapped key unwraps to exactly the
plain key, a derived key equals the local derivation. PyKMIP's
ProxyKmipClient says what it can (Get with a KeyWrappingSpecification,
ReKey, DeriveKey); the rest (TTLV encoding, KeyFormatType, ReKeyKeyPair)
is encoded by hand with kh_ttlv.
"""
import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import exceptions as pie_exceptions
from kmip.pie import objects as pobjects

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import BOOL, E, I, S, T

RR = enums.ResultReason
ALG = enums.CryptographicAlgorithm
MASK = enums.CryptographicUsageMask
KFT = enums.KeyFormatType
BCM = enums.BlockCipherMode
HASH = enums.HashingAlgorithm
DM = enums.DerivationMethod
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)
af = AttributeFactory()


class Tag:
    UNIQUE_IDENTIFIER = 0x420094
    KEY_FORMAT_TYPE = 0x420042
    KEY_WRAPPING_SPECIFICATION = 0x420047
    KEY_WRAPPING_DATA = 0x420046
    WRAPPING_METHOD = 0x42009E
    ENCRYPTION_KEY_INFORMATION = 0x420036
    ENCODING_OPTION = 0x4200A3
    SYMMETRIC_KEY = 0x42008F
    PRIVATE_KEY = 0x420064
    PUBLIC_KEY = 0x42006D
    KEY_BLOCK = 0x420040
    KEY_VALUE = 0x420045
    KEY_MATERIAL = 0x420043
    KEY = 0x42003F
    PRIVATE_KEY_UID = 0x420066
    PUBLIC_KEY_UID = 0x42006F
    ATTRIBUTE = 0x420008
    ATTRIBUTE_NAME = 0x42000A
    ATTRIBUTE_VALUE = 0x42000B
    LINK_TYPE = 0x42004B
    LINKED_OBJECT_IDENTIFIER = 0x42004C
    OBJECT_TYPE = 0x420057
    TEMPLATE_ATTRIBUTE = 0x420091
    CRYPTOGRAPHIC_ALGORITHM = 0x420028
    CRYPTOGRAPHIC_LENGTH = 0x42002A


class Op:
    CREATE = 0x01
    REGISTER = 0x03
    GET = 0x0A
    GET_ATTRIBUTES = 0x0B
    REKEY_KEY_PAIR = 0x1D


LINK = enums.LinkType


def expect_failure(fn, *reasons):
    with pytest.raises(FAILURES) as ei:
        fn()
    assert ei.value.reason in reasons, "got %s, expected %s (%s)" % (ei.value.reason, reasons,
                                                                     ei.value)


def raw(server, op, *payload, who="alice", version=(1, 2)):
    return kh_support.call(server.port, op, *payload, who=who, version=version)


def ok(result):
    assert result.status == ttlv.STATUS_SUCCESS, result
    return result.payload


def failed(result, reason):
    assert result.status == ttlv.STATUS_OPERATION_FAILED, result
    assert result.reason == reason.value, "got %r, expected %s" % (result, reason)


def active_key(c, alg=ALG.AES, length=256, masks=(MASK.ENCRYPT, MASK.DECRYPT), **kw):
    uid = c.create(alg, length, cryptographic_usage_mask=list(masks), **kw)
    c.activate(uid)
    return uid


def wrapping_pair(c, length=2048):
    """An RSA pair whose Active public half may wrap keys."""
    pub, priv = c.create_key_pair(ALG.RSA, length, public_usage_mask=[MASK.WRAP_KEY],
                                  private_usage_mask=[MASK.UNWRAP_KEY])
    c.activate(pub)
    return pub, serialization.load_der_private_key(c.get(priv).value, password=None)


def spec(kek, encoding=enums.EncodingOption.NO_ENCODING, method=enums.WrappingMethod.ENCRYPT,
         **cp):
    info = {"unique_identifier": kek}
    if cp:
        info["cryptographic_parameters"] = cp
    return {"wrapping_method": method, "encryption_key_information": info,
            "encoding_option": encoding}


def links_of(server, uid):
    p = ok(raw(server, Op.GET_ATTRIBUTES, T(Tag.UNIQUE_IDENTIFIER, uid),
               T(Tag.ATTRIBUTE_NAME, "Link")))
    out = {}
    for a in p.find_all(Tag.ATTRIBUTE):
        v = a.find(Tag.ATTRIBUTE_VALUE)
        out.setdefault(v.get(Tag.LINK_TYPE), []).append(v.get(Tag.LINKED_OBJECT_IDENTIFIER))
    return out


# ---- Get with a KeyWrappingSpecification ------------------------------------------


@pytest.mark.parametrize("kek_len", [128, 192, 256])
@pytest.mark.parametrize("length", [128, 256])
def test_get_wrapped_aes_kwp_unwraps_to_the_key(alice, kek_len, length):
    kek = active_key(alice, length=kek_len, masks=[MASK.WRAP_KEY])
    target = alice.create(ALG.AES, length)
    plain = alice.get(target).value
    got = alice.get(target, key_wrapping_specification=spec(
        kek, block_cipher_mode=BCM.AES_KEY_WRAP_PADDING))
    assert got.key_wrapping_data["wrapping_method"] == enums.WrappingMethod.ENCRYPT
    assert got.key_wrapping_data["encryption_key_information"]["unique_identifier"] == kek
    assert got.value != plain
    assert keywrap.aes_key_unwrap_with_padding(alice.get(kek).value, got.value) == plain


def test_get_wrapped_defaults_to_kwp_and_nist_key_wrap(alice):
    kek = active_key(alice, masks=[MASK.WRAP_KEY])
    target = alice.create(ALG.HMAC_SHA256, 200)  # 25 bytes: only the padded wrap takes it
    plain, kek_bytes = alice.get(target).value, alice.get(kek).value
    got = alice.get(target, key_wrapping_specification=spec(kek))
    assert keywrap.aes_key_unwrap_with_padding(kek_bytes, got.value) == plain
    expect_failure(lambda: alice.get(target, key_wrapping_specification=spec(
        kek, block_cipher_mode=BCM.NIST_KEY_WRAP)), RR.INVALID_FIELD)
    target = alice.create(ALG.AES, 256)
    got = alice.get(target, key_wrapping_specification=spec(
        kek, block_cipher_mode=BCM.NIST_KEY_WRAP))
    assert keywrap.aes_key_unwrap(kek_bytes, got.value) == alice.get(target).value


@pytest.mark.parametrize("hash_", [HASH.SHA_1, HASH.SHA_256])
def test_get_wrapped_rsa_oaep(alice, hash_):
    pub, local = wrapping_pair(alice)
    target = alice.create(ALG.AES, 256)
    got = alice.get(target, key_wrapping_specification=spec(
        pub, padding_method=enums.PaddingMethod.OAEP, hashing_algorithm=hash_,
        cryptographic_algorithm=ALG.RSA))
    h = hashes.SHA1() if hash_ == HASH.SHA_1 else hashes.SHA256()
    assert local.decrypt(got.value, padding.OAEP(padding.MGF1(h), h, None)) == \
        alice.get(target).value


def test_get_wrapped_rsa_oaep_aes_kwp_for_large_keys(alice):
    pub, local = wrapping_pair(alice)
    _, big = alice.create_key_pair(ALG.RSA, 3072)
    plain = alice.get(big).value
    # too large for RSA-OAEP alone
    expect_failure(lambda: alice.get(big, key_wrapping_specification=spec(pub)),
                   RR.INVALID_FIELD)
    got = alice.get(big, key_wrapping_specification=spec(
        pub, block_cipher_mode=BCM.AES_KEY_WRAP_PADDING, hashing_algorithm=HASH.SHA_256))
    head, tail = got.value[:256], got.value[256:]
    eph = local.decrypt(head, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    assert len(eph) == 32
    assert keywrap.aes_key_unwrap_with_padding(eph, tail) == plain


def test_get_wrapped_ttlv_encoding_by_hand(module_server, alice):
    kek = active_key(alice, masks=[MASK.WRAP_KEY])
    target = alice.create(ALG.AES, 128)
    p = ok(raw(module_server, Op.GET, T(Tag.UNIQUE_IDENTIFIER, target),
               S(Tag.KEY_WRAPPING_SPECIFICATION, E(Tag.WRAPPING_METHOD, 1),
                 S(Tag.ENCRYPTION_KEY_INFORMATION, T(Tag.UNIQUE_IDENTIFIER, kek)))))
    kb = p.find(Tag.SYMMETRIC_KEY).find(Tag.KEY_BLOCK)
    kv = kb.find(Tag.KEY_VALUE)
    assert kv.type == ttlv.BYTE_STRING  # the wrapped TTLV of the KeyValue
    wd = kb.find(Tag.KEY_WRAPPING_DATA)
    assert wd.get(Tag.ENCODING_OPTION) == enums.EncodingOption.TTLV_ENCODING.value
    inner = ttlv.decode(keywrap.aes_key_unwrap_with_padding(alice.get(kek).value, kv.value))
    assert inner.tag == Tag.KEY_VALUE
    assert inner.get(Tag.KEY_MATERIAL) == alice.get(target).value


def test_get_wrapped_refusals(module_server, alice, bob):
    target = alice.create(ALG.AES, 256)
    no_bit = active_key(alice, masks=[MASK.ENCRYPT])
    expect_failure(lambda: alice.get(target, key_wrapping_specification=spec(no_bit)),
                   RR.PERMISSION_DENIED)
    pre = alice.create(ALG.AES, 256, cryptographic_usage_mask=[MASK.WRAP_KEY])
    expect_failure(lambda: alice.get(target, key_wrapping_specification=spec(pre)),
                   RR.ILLEGAL_OPERATION)
    bobs = active_key(bob, masks=[MASK.WRAP_KEY])
    expect_failure(lambda: alice.get(target, key_wrapping_specification=spec(bobs)),
                   RR.ITEM_NOT_FOUND)
    kek = active_key(alice, masks=[MASK.WRAP_KEY])
    expect_failure(lambda: alice.get(target, key_wrapping_specification=spec(
        kek, method=enums.WrappingMethod.MAC_SIGN)), RR.FEATURE_NOT_SUPPORTED)
    expect_failure(lambda: alice.get(target, key_wrapping_specification=spec(
        kek, block_cipher_mode=BCM.GCM)), RR.FEATURE_NOT_SUPPORTED)
    # no EncryptionKeyInformation
    failed(raw(module_server, Op.GET, T(Tag.UNIQUE_IDENTIFIER, target),
               S(Tag.KEY_WRAPPING_SPECIFICATION, E(Tag.WRAPPING_METHOD, 1))), RR.MISSING_DATA)
    # an unknown field inside the specification
    failed(raw(module_server, Op.GET, T(Tag.UNIQUE_IDENTIFIER, target),
               S(Tag.KEY_WRAPPING_SPECIFICATION, E(Tag.WRAPPING_METHOD, 1),
                 T(Tag.UNIQUE_IDENTIFIER, kek))), RR.INVALID_MESSAGE)


def test_get_wrapped_not_extractable(module_server, alice):
    kek = active_key(alice, masks=[MASK.WRAP_KEY])
    p = ok(raw(module_server, Op.CREATE, E(Tag.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY.value),
               S(Tag.TEMPLATE_ATTRIBUTE,
                 ttlv.attribute_v1("Cryptographic Algorithm", E(0, ALG.AES.value)),
                 ttlv.attribute_v1("Cryptographic Length", I(0, 256)),
                 ttlv.attribute_v1("Extractable", BOOL(0, False))), version=(1, 4)))
    uid = p.get(Tag.UNIQUE_IDENTIFIER)
    expect_failure(lambda: alice.get(uid, key_wrapping_specification=spec(kek)),
                   RR.NOT_EXTRACTABLE)


# ---- KeyFormatType conversions ----------------------------------------------------


def get_as(server, uid, fmt):
    return raw(server, Op.GET, T(Tag.UNIQUE_IDENTIFIER, uid), E(Tag.KEY_FORMAT_TYPE, fmt.value))


def material(payload, tag):
    kb = payload.find(tag).find(Tag.KEY_BLOCK)
    return kb.get(Tag.KEY_FORMAT_TYPE), kb.find(Tag.KEY_VALUE).find(Tag.KEY_MATERIAL)


def test_symmetric_raw_and_transparent(module_server, alice):
    uid = alice.create(ALG.AES, 256)
    plain = alice.get(uid).value
    fmt, km = material(ok(get_as(module_server, uid, KFT.TRANSPARENT_SYMMETRIC_KEY)),
                       Tag.SYMMETRIC_KEY)
    assert fmt == KFT.TRANSPARENT_SYMMETRIC_KEY.value and km.get(Tag.KEY) == plain
    fmt, km = material(ok(get_as(module_server, uid, KFT.RAW)), Tag.SYMMETRIC_KEY)
    assert km.value == plain
    failed(get_as(module_server, uid, KFT.PKCS_8), RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)


def test_rsa_pkcs1_pkcs8_x509(module_server, alice):
    pub, priv = alice.create_key_pair(ALG.RSA, 2048)
    local = serialization.load_der_private_key(alice.get(priv).value, password=None)
    _, km = material(ok(get_as(module_server, priv, KFT.PKCS_8)), Tag.PRIVATE_KEY)
    assert km.value == local.private_bytes(serialization.Encoding.DER,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
    _, km = material(ok(get_as(module_server, pub, KFT.X_509)), Tag.PUBLIC_KEY)
    assert km.value == local.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    failed(get_as(module_server, priv, KFT.X_509), RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)
    failed(get_as(module_server, priv, KFT.TRANSPARENT_RSA_PUBLIC_KEY),
           RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)


# Transparent forms: numbers are BigIntegers (two's complement, 8-byte multiples)
MODULUS, PRIVATE_EXPONENT, PUBLIC_EXPONENT = 0x420052, 0x420063, 0x42006C
P, Q, PRIME_EXPONENT_P, PRIME_EXPONENT_Q, CRT_COEFFICIENT = (0x42005E, 0x420071, 0x420060,
                                                             0x420061, 0x420027)
D, Q_STRING, RECOMMENDED_CURVE = 0x42002E, 0x420072, 0x420075


def big(km, tag):
    item = km.find(tag)
    assert item.type == ttlv.BIG_INTEGER and len(item.value) % 8 == 0 and item.value[0] < 0x80
    return int.from_bytes(item.value, "big", signed=True)


@pytest.mark.parametrize("length", [2048, 3072])
def test_rsa_transparent_forms(module_server, alice, length):
    pub, priv = alice.create_key_pair(ALG.RSA, length)
    local = serialization.load_der_private_key(alice.get(priv).value, password=None)
    n = local.private_numbers()
    fmt, km = material(ok(get_as(module_server, priv, KFT.TRANSPARENT_RSA_PRIVATE_KEY)),
                       Tag.PRIVATE_KEY)
    assert fmt == KFT.TRANSPARENT_RSA_PRIVATE_KEY.value
    assert [k.tag for k in km.value] == [MODULUS, PRIVATE_EXPONENT, PUBLIC_EXPONENT, P, Q,
                                         PRIME_EXPONENT_P, PRIME_EXPONENT_Q, CRT_COEFFICIENT]
    assert (big(km, MODULUS), big(km, PRIVATE_EXPONENT), big(km, PUBLIC_EXPONENT)) == \
        (n.public_numbers.n, n.d, n.public_numbers.e)
    assert (big(km, P), big(km, Q), big(km, PRIME_EXPONENT_P), big(km, PRIME_EXPONENT_Q),
            big(km, CRT_COEFFICIENT)) == (n.p, n.q, n.dmp1, n.dmq1, n.iqmp)
    fmt, km = material(ok(get_as(module_server, pub, KFT.TRANSPARENT_RSA_PUBLIC_KEY)),
                       Tag.PUBLIC_KEY)
    assert [k.tag for k in km.value] == [MODULUS, PUBLIC_EXPONENT]
    assert (big(km, MODULUS), big(km, PUBLIC_EXPONENT)) == (n.public_numbers.n,
                                                            n.public_numbers.e)
    failed(get_as(module_server, pub, KFT.TRANSPARENT_EC_PUBLIC_KEY),
           RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)


@pytest.mark.parametrize("length,curve", [(256, enums.RecommendedCurve.P_256),
                                          (384, enums.RecommendedCurve.P_384),
                                          (521, enums.RecommendedCurve.P_521)])
def test_ec_transparent_forms(module_server, alice, length, curve):
    pub, priv = alice.create_key_pair(ALG.EC, length)
    local = serialization.load_der_private_key(alice.get(priv).value, password=None)
    point = local.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)
    for fmt in (KFT.TRANSPARENT_EC_PRIVATE_KEY, KFT.TRANSPARENT_ECDSA_PRIVATE_KEY):
        got, km = material(ok(get_as(module_server, priv, fmt)), Tag.PRIVATE_KEY)
        assert got == fmt.value
        assert km.get(RECOMMENDED_CURVE) == curve.value
        assert big(km, D) == local.private_numbers().private_value
    for fmt in (KFT.TRANSPARENT_EC_PUBLIC_KEY, KFT.TRANSPARENT_ECDH_PUBLIC_KEY):
        _, km = material(ok(get_as(module_server, pub, fmt)), Tag.PUBLIC_KEY)
        assert km.get(RECOMMENDED_CURVE) == curve.value and km.get(Q_STRING) == point
    failed(get_as(module_server, priv, KFT.TRANSPARENT_RSA_PRIVATE_KEY),
           RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)
    failed(get_as(module_server, pub, KFT.TRANSPARENT_EC_PRIVATE_KEY),
           RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)


def test_ed25519_has_no_transparent_form(module_server, alice):
    pub, priv = alice.create_key_pair(ALG.ED25519, 256)
    failed(get_as(module_server, priv, KFT.TRANSPARENT_EC_PRIVATE_KEY),
           RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)
    failed(get_as(module_server, pub, KFT.TRANSPARENT_EC_PUBLIC_KEY),
           RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)


def test_ec_formats(module_server, alice):
    pub, priv = alice.create_key_pair(ALG.EC, 256)
    failed(get_as(module_server, pub, KFT.PKCS_1), RR.KEY_FORMAT_TYPE_NOT_SUPPORTED)
    _, km = material(ok(get_as(module_server, priv, KFT.PKCS_8)), Tag.PRIVATE_KEY)
    serialization.load_der_private_key(km.value, password=None)


# ---- ReKey, ReKeyKeyPair ----------------------------------------------------------


def test_rekey_replaces_and_links(module_server, alice):
    name = "rekeyed-%s" % os.urandom(4).hex()
    old = alice.create(ALG.AES, 256, name=name,
                       cryptographic_usage_mask=[MASK.ENCRYPT, MASK.DECRYPT])
    alice.activate(old)
    ct, iv = alice.encrypt(b"kept readable", uid=old, cryptographic_parameters={
        "cryptographic_algorithm": ALG.AES, "block_cipher_mode": BCM.CBC,
        "padding_method": enums.PaddingMethod.PKCS5, "random_iv": True})
    new = alice.rekey(uid=old)
    assert new != old
    assert links_of(module_server, old)[LINK.REPLACEMENT_OBJECT_LINK.value] == [new]
    assert links_of(module_server, new)[LINK.REPLACED_OBJECT_LINK.value] == [old]
    attrs = {a.attribute_name.value: a.attribute_value for a in
             alice.get_attributes(new, ["Name", "Cryptographic Usage Mask", "State",
                                        "Cryptographic Length"])[1]}
    assert attrs["Name"].name_value.value == name
    assert attrs["Cryptographic Length"].value == 256
    assert attrs["State"].value == enums.State.ACTIVE  # the old dates, already reached
    assert alice.get(new).value != alice.get(old).value
    # newest first by name, and the old key still decrypts
    assert alice.locate(attributes=[af.create_attribute(enums.AttributeType.NAME, name)]) == \
        [new, old]
    assert alice.decrypt(ct, uid=old, iv_counter_nonce=iv, cryptographic_parameters={
        "cryptographic_algorithm": ALG.AES, "block_cipher_mode": BCM.CBC,
        "padding_method": enums.PaddingMethod.PKCS5}) == b"kept readable"


def test_rekey_offset_and_refusals(alice, bob):
    old = active_key(alice)
    new = alice.rekey(uid=old, offset=3600)
    state = alice.get_attributes(new, ["State"])[1][0].attribute_value.value
    assert state == enums.State.PRE_ACTIVE
    expect_failure(lambda: bob.rekey(uid=old), RR.ITEM_NOT_FOUND)
    pub, _ = alice.create_key_pair(ALG.EC, 256)
    expect_failure(lambda: alice.rekey(uid=pub), RR.INVALID_FIELD)


def test_rekey_key_pair_by_hand(module_server, alice):
    pub, priv = alice.create_key_pair(ALG.RSA, 2048)
    p = ok(raw(module_server, Op.REKEY_KEY_PAIR, T(Tag.PRIVATE_KEY_UID, priv)))
    npriv, npub = p.get(Tag.PRIVATE_KEY_UID), p.get(Tag.PUBLIC_KEY_UID)
    assert links_of(module_server, priv)[LINK.REPLACEMENT_OBJECT_LINK.value] == [npriv]
    assert links_of(module_server, pub)[LINK.REPLACEMENT_OBJECT_LINK.value] == [npub]
    nl = links_of(module_server, npriv)
    assert nl[LINK.PUBLIC_KEY_LINK.value] == [npub]
    assert nl[LINK.REPLACED_OBJECT_LINK.value] == [priv]
    local = serialization.load_der_private_key(alice.get(npriv).value, password=None)
    assert local.key_size == 2048
    failed(raw(module_server, Op.REKEY_KEY_PAIR, T(Tag.PRIVATE_KEY_UID, pub)), RR.INVALID_FIELD)


# ---- DeriveKey ------------------------------------------------------------------


DATA = b"derivation data, 32 bytes long!!"
SALT = b"some salt"
IV = bytes(range(16))


def local_derivation(method, base):
    if method == DM.PBKDF2:
        return PBKDF2HMAC(hashes.SHA256(), 32, SALT, 1000).derive(base)
    if method == DM.HKDF:
        return HKDF(hashes.SHA256(), 32, SALT, DATA).derive(base)
    if method == DM.HMAC:
        return hmac.new(base, DATA, hashlib.sha256).digest()
    if method == DM.HASH:
        return hashlib.sha256(base + DATA).digest()
    if method == DM.ENCRYPT:
        e = Cipher(algorithms.AES(base), modes.CBC(IV)).encryptor()
        return e.update(DATA) + e.finalize()
    return KBKDFHMAC(hashes.SHA256(), Mode.CounterMode, 32, 4, None, CounterLocation.BeforeFixed,
                     None, None, fixed=DATA).derive(base)


@pytest.mark.parametrize("method", [DM.PBKDF2, DM.HKDF, DM.HMAC, DM.HASH, DM.ENCRYPT,
                                    DM.NIST800_108_C], ids=lambda m: m.name)
def test_derive_key_matches_local(alice, method):
    base = active_key(alice, masks=[MASK.DERIVE_KEY])
    params = {"cryptographic_parameters": {"hashing_algorithm": HASH.SHA_256},
              "derivation_data": DATA, "salt": SALT, "iteration_count": 1000}
    if method == DM.ENCRYPT:
        params = {"cryptographic_parameters": {"block_cipher_mode": BCM.CBC,
                                               "padding_method": enums.PaddingMethod.NONE,
                                               "cryptographic_algorithm": ALG.AES},
                  "derivation_data": DATA, "initialization_vector": IV}
    if method == DM.PBKDF2:
        del params["derivation_data"]
    uid = alice.derive_key(enums.ObjectType.SYMMETRIC_KEY, [base], method, params,
                           cryptographic_length=256, cryptographic_algorithm=ALG.AES)
    assert alice.get(uid).value == local_derivation(method, alice.get(base).value)


def test_derive_key_refusals(alice, bob):
    base = active_key(alice, masks=[MASK.DERIVE_KEY])
    no_bit = active_key(alice, masks=[MASK.ENCRYPT])
    params = {"derivation_data": DATA, "salt": SALT}

    def derive(uid, method=DM.HKDF, p=params, who=alice, **kw):
        kw.setdefault("cryptographic_length", 256)
        kw.setdefault("cryptographic_algorithm", ALG.AES)
        return who.derive_key(enums.ObjectType.SYMMETRIC_KEY, [uid], method, p, **kw)

    expect_failure(lambda: derive(no_bit), RR.PERMISSION_DENIED)
    expect_failure(lambda: derive(base, who=bob), RR.ITEM_NOT_FOUND)
    expect_failure(lambda: derive(base, DM.NIST800_108_F), RR.FEATURE_NOT_SUPPORTED)
    expect_failure(lambda: derive(base, DM.PBKDF2), RR.MISSING_DATA)  # no iteration count
    expect_failure(lambda: derive(base, DM.HMAC, cryptographic_length=512), RR.INVALID_FIELD)
    expect_failure(lambda: derive(base, cryptographic_length=100), RR.INVALID_FIELD)


# ---- sealed import: Register of a key wrapped by a key held here ------------------


def unwrapping_pair(c):
    """An RSA pair whose Active private half may unwrap; the public key as a client sees it."""
    pub, priv = c.create_key_pair(ALG.RSA, 2048, private_usage_mask=[MASK.UNWRAP_KEY],
                                  public_usage_mask=[MASK.WRAP_KEY])
    c.activate(priv)
    return priv, serialization.load_der_public_key(c.get(pub).value)


def sealed(key, priv_uid, **cp):
    return pobjects.SymmetricKey(ALG.AES, 256, key, key_wrapping_data={
        "wrapping_method": enums.WrappingMethod.ENCRYPT,
        "encryption_key_information": {
            "unique_identifier": priv_uid,
            "cryptographic_parameters": cp},
        "encoding_option": enums.EncodingOption.NO_ENCODING})


def test_sealed_import_rsa_oaep_aes_kwp(alice, bob):
    priv, server_pub = unwrapping_pair(alice)
    secret = os.urandom(32)
    eph = os.urandom(32)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    blob = server_pub.encrypt(eph, oaep) + keywrap.aes_key_wrap_with_padding(eph, secret)
    uid = alice.register(sealed(blob, priv, block_cipher_mode=BCM.AES_KEY_WRAP_PADDING,
                                hashing_algorithm=HASH.SHA_256))
    got = alice.get(uid)
    assert got.value == secret and not got.key_wrapping_data
    # plain RSA-OAEP of the key itself
    uid = alice.register(sealed(server_pub.encrypt(secret, oaep), priv,
                                padding_method=enums.PaddingMethod.OAEP,
                                hashing_algorithm=HASH.SHA_256))
    assert alice.get(uid).value == secret
    # tampered, someone else's key, a key without UnwrapKey
    bad = blob[:-1] + bytes([blob[-1] ^ 1])
    expect_failure(lambda: alice.register(sealed(
        bad, priv, block_cipher_mode=BCM.AES_KEY_WRAP_PADDING)), RR.CRYPTOGRAPHIC_FAILURE)
    expect_failure(lambda: bob.register(sealed(
        blob, priv, block_cipher_mode=BCM.AES_KEY_WRAP_PADDING)), RR.ITEM_NOT_FOUND)
    _, other = alice.create_key_pair(ALG.RSA, 2048)
    alice.activate(other)
    expect_failure(lambda: alice.register(sealed(
        blob, other, block_cipher_mode=BCM.AES_KEY_WRAP_PADDING)), RR.PERMISSION_DENIED)


def test_sealed_import_aes_kwp_ttlv_encoded(module_server, alice):
    kek = active_key(alice, masks=[MASK.UNWRAP_KEY])
    secret = os.urandom(16)
    inner = ttlv.encode(S(Tag.KEY_VALUE, ttlv.B(Tag.KEY_MATERIAL, secret)))
    blob = keywrap.aes_key_wrap_with_padding(alice.get(kek).value, inner)
    key = S(Tag.SYMMETRIC_KEY, S(Tag.KEY_BLOCK,
            E(Tag.KEY_FORMAT_TYPE, KFT.RAW.value), ttlv.B(Tag.KEY_VALUE, blob),
            E(Tag.CRYPTOGRAPHIC_ALGORITHM, ALG.AES.value), I(Tag.CRYPTOGRAPHIC_LENGTH, 128),
            S(Tag.KEY_WRAPPING_DATA, E(Tag.WRAPPING_METHOD, 1),
              S(Tag.ENCRYPTION_KEY_INFORMATION, T(Tag.UNIQUE_IDENTIFIER, kek)))))
    p = ok(raw(module_server, Op.REGISTER,
               E(Tag.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY.value),
               S(Tag.TEMPLATE_ATTRIBUTE), key))
    assert alice.get(p.get(Tag.UNIQUE_IDENTIFIER)).value == secret
