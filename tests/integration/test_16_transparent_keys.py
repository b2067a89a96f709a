"""
Asymmetric keys registered in KMIP's Transparent forms (RSA and EC numbers
as BigIntegers): kept as given, usable for Sign / SignatureVerify / RSA
encryption, convertible on Get to PKCS#1, PKCS#8 and X.509, and refused at
Register when the numbers do not make a key. Keys come from Python's
`cryptography`, requests are hand-encoded TTLV (PyKMIP 0.10 cannot carry
Transparent key material).
"""
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from kmip.core import enums

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import B, E, I, S, T

ALG = enums.CryptographicAlgorithm
KFT = enums.KeyFormatType
MASK = enums.CryptographicUsageMask
OT = enums.ObjectType
RR = enums.ResultReason


class Tag:
    CRT_COEFFICIENT = 0x420027
    CRYPTOGRAPHIC_ALGORITHM = 0x420028
    CRYPTOGRAPHIC_LENGTH = 0x42002A
    D = 0x42002E
    KEY_BLOCK = 0x420040
    KEY_FORMAT_TYPE = 0x420042
    KEY_MATERIAL = 0x420043
    KEY_VALUE = 0x420045
    MODULUS = 0x420052
    OBJECT_TYPE = 0x420057
    P = 0x42005E
    PRIME_EXPONENT_P = 0x420060
    PRIME_EXPONENT_Q = 0x420061
    PRIVATE_EXPONENT = 0x420063
    PRIVATE_KEY = 0x420064
    PUBLIC_EXPONENT = 0x42006C
    PUBLIC_KEY = 0x42006D
    Q = 0x420071
    Q_STRING = 0x420072
    RECOMMENDED_CURVE = 0x420075
    TEMPLATE_ATTRIBUTE = 0x420091
    UNIQUE_IDENTIFIER = 0x420094


class Op:
    REGISTER = 0x03
    GET = 0x0A


def big(tag, n):
    """A BigInteger item: two's complement, big-endian, a multiple of 8 octets."""
    size = max(8, ((n.bit_length() + 1) + 63) // 64 * 8)
    return ttlv.Item(tag, ttlv.BIG_INTEGER, n.to_bytes(size, "big", signed=True))


def rsa_private_material(k, **override):
    n = k.private_numbers()
    values = {Tag.MODULUS: n.public_numbers.n, Tag.PRIVATE_EXPONENT: n.d,
              Tag.PUBLIC_EXPONENT: n.public_numbers.e, Tag.P: n.p, Tag.Q: n.q,
              Tag.PRIME_EXPONENT_P: n.dmp1, Tag.PRIME_EXPONENT_Q: n.dmq1,
              Tag.CRT_COEFFICIENT: n.iqmp}
    values.update(override)
    return S(Tag.KEY_MATERIAL, *[big(t, v) for t, v in values.items() if v is not None])


def key_object(tag, fmt, material, alg, length):
    return S(tag, S(Tag.KEY_BLOCK, E(Tag.KEY_FORMAT_TYPE, fmt.value),
                    S(Tag.KEY_VALUE, material),
                    E(Tag.CRYPTOGRAPHIC_ALGORITHM, alg.value) if alg else None,
                    I(Tag.CRYPTOGRAPHIC_LENGTH, length) if length else None))


def register(server, obj, masks):
    otype = OT.PRIVATE_KEY if obj.tag == Tag.PRIVATE_KEY else OT.PUBLIC_KEY
    mask = 0
    for m in masks:
        mask |= m.value
    attrs = S(Tag.TEMPLATE_ATTRIBUTE,
              ttlv.attribute_v1("Cryptographic Usage Mask", I(0, mask)))
    return kh_support.call(server.port, Op.REGISTER, E(Tag.OBJECT_TYPE, otype.value), attrs, obj)


def registered(server, alice, obj, masks):
    r = register(server, obj, masks)
    assert r.status == ttlv.STATUS_SUCCESS, r
    uid = r.payload.get(Tag.UNIQUE_IDENTIFIER)
    alice.activate(uid)
    return uid


def get_as(server, uid, fmt=None):
    r = kh_support.call(server.port, Op.GET, T(Tag.UNIQUE_IDENTIFIER, uid),
                        E(Tag.KEY_FORMAT_TYPE, fmt.value) if fmt else None)
    assert r.status == ttlv.STATUS_SUCCESS, r
    return r.payload


def material_of(payload, tag):
    return payload.find(tag).find(Tag.KEY_BLOCK).find(Tag.KEY_VALUE).find(Tag.KEY_MATERIAL)


def test_rsa_private_transparent_signs_and_converts(module_server, alice):
    k = rsa.generate_private_key(65537, 2048)
    sent = rsa_private_material(k)
    uid = registered(module_server, alice,
                     key_object(Tag.PRIVATE_KEY, KFT.TRANSPARENT_RSA_PRIVATE_KEY, sent, ALG.RSA,
                                2048), [MASK.SIGN, MASK.DECRYPT])
    # kept as given
    assert ttlv.encode(material_of(get_as(module_server, uid), Tag.PRIVATE_KEY)) == \
        ttlv.encode(sent)
    # usable
    sig = alice.sign(b"transparent", uid=uid)
    k.public_key().verify(sig, b"transparent", padding.PSS(padding.MGF1(hashes.SHA256()),
                                                           padding.PSS.AUTO), hashes.SHA256())
    ct = k.public_key().encrypt(b"secret", padding.OAEP(padding.MGF1(hashes.SHA256()),
                                                        hashes.SHA256(), None))
    assert alice.decrypt(ct, uid=uid) == b"secret"
    # convertible
    der = material_of(get_as(module_server, uid, KFT.PKCS_8), Tag.PRIVATE_KEY).value
    assert serialization.load_der_private_key(der, None).private_numbers() == k.private_numbers()


def test_public_transparent_forms_verify_and_convert(module_server, alice):
    ek = ec.generate_private_key(ec.SECP384R1())
    point = ek.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)
    mat = S(Tag.KEY_MATERIAL, E(Tag.RECOMMENDED_CURVE, enums.RecommendedCurve.P_384.value),
            B(Tag.Q_STRING, point))
    uid = registered(module_server, alice,
                     key_object(Tag.PUBLIC_KEY, KFT.TRANSPARENT_ECDSA_PUBLIC_KEY, mat, ALG.EC, 384),
                     [MASK.VERIFY])
    sig = ek.sign(b"verify me", ec.ECDSA(hashes.SHA256()))
    assert alice.signature_verify(b"verify me", sig, uid=uid) == enums.ValidityIndicator.VALID
    assert alice.signature_verify(b"not me", sig, uid=uid) == enums.ValidityIndicator.INVALID
    spki = material_of(get_as(module_server, uid, KFT.X_509), Tag.PUBLIC_KEY).value
    assert spki == ek.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)

    rk = rsa.generate_private_key(65537, 3072)
    pn = rk.public_key().public_numbers()
    mat = S(Tag.KEY_MATERIAL, big(Tag.MODULUS, pn.n), big(Tag.PUBLIC_EXPONENT, pn.e))
    uid = registered(module_server, alice,
                     key_object(Tag.PUBLIC_KEY, KFT.TRANSPARENT_RSA_PUBLIC_KEY, mat, ALG.RSA, None),
                     [MASK.ENCRYPT])
    ct, _ = alice.encrypt(b"to the holder", uid=uid)
    assert rk.decrypt(ct, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)) \
        == b"to the holder"
    der = material_of(get_as(module_server, uid, KFT.PKCS_1), Tag.PUBLIC_KEY).value
    assert der == rk.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.PKCS1)
    attrs = alice.get_attributes(uid, ["Cryptographic Length"])[1]
    assert attrs[0].attribute_value.value == 3072  # from the numbers


def test_ec_private_transparent(module_server, alice):
    ek = ec.generate_private_key(ec.SECP256R1())
    mat = S(Tag.KEY_MATERIAL, E(Tag.RECOMMENDED_CURVE, enums.RecommendedCurve.P_256.value),
            big(Tag.D, ek.private_numbers().private_value))
    uid = registered(module_server, alice,
                     key_object(Tag.PRIVATE_KEY, KFT.TRANSPARENT_EC_PRIVATE_KEY, mat, ALG.EC, 256),
                     [MASK.SIGN])
    ek.public_key().verify(alice.sign(b"m", uid=uid), b"m", ec.ECDSA(hashes.SHA256()))
    der = material_of(get_as(module_server, uid, KFT.PKCS_8), Tag.PRIVATE_KEY).value
    assert serialization.load_der_private_key(der, None).private_numbers() == \
        ek.private_numbers()


def test_transparent_register_refusals(module_server):
    k = rsa.generate_private_key(65537, 2048)
    n = k.private_numbers()
    ek = ec.generate_private_key(ec.SECP256R1())
    point = bytearray(ek.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint))
    point[-1] ^= 1  # no longer on the curve

    def ec_pub(curve, q):
        return S(Tag.KEY_MATERIAL, E(Tag.RECOMMENDED_CURVE, curve.value), B(Tag.Q_STRING, q))

    neg = ttlv.Item(Tag.PUBLIC_EXPONENT, ttlv.BIG_INTEGER, b"\xff" * 8)
    wrong_p = rsa_private_material(k)
    wrong_p.value[3] = big(Tag.P, n.p + 2)
    no_modulus = rsa_private_material(k)
    del no_modulus.value[0]
    negative = S(Tag.KEY_MATERIAL, big(Tag.MODULUS, n.public_numbers.n), neg)
    huge = S(Tag.KEY_MATERIAL, big(Tag.MODULUS, (1 << 65536) + 1), big(Tag.PUBLIC_EXPONENT, 3))
    cases = [
        (Tag.PRIVATE_KEY, KFT.TRANSPARENT_RSA_PRIVATE_KEY, wrong_p, ALG.RSA, 2048,
         RR.INVALID_FIELD),
        (Tag.PRIVATE_KEY, KFT.TRANSPARENT_RSA_PRIVATE_KEY, no_modulus, ALG.RSA, 2048,
         RR.MISSING_DATA),
        (Tag.PUBLIC_KEY, KFT.TRANSPARENT_RSA_PUBLIC_KEY, negative, ALG.RSA, 2048,
         RR.INVALID_FIELD),
        (Tag.PUBLIC_KEY, KFT.TRANSPARENT_RSA_PUBLIC_KEY, huge, ALG.RSA, None,
         RR.INVALID_FIELD),                              # a 65537-bit modulus
        (Tag.PRIVATE_KEY, KFT.TRANSPARENT_RSA_PRIVATE_KEY, rsa_private_material(k), ALG.RSA,
         3072, RR.INVALID_FIELD),                        # declared length is not the key's
        (Tag.PRIVATE_KEY, KFT.TRANSPARENT_RSA_PRIVATE_KEY, rsa_private_material(k), ALG.EC,
         256, RR.INVALID_FIELD),                         # declared algorithm is not the key's
        (Tag.PUBLIC_KEY, KFT.TRANSPARENT_EC_PUBLIC_KEY,
         ec_pub(enums.RecommendedCurve.P_256, bytes(point)), ALG.EC, 256, RR.INVALID_FIELD),
        (Tag.PUBLIC_KEY, KFT.TRANSPARENT_EC_PUBLIC_KEY,
         ec_pub(enums.RecommendedCurve.P_192, bytes(point)), ALG.EC, 192,
         RR.FEATURE_NOT_SUPPORTED),
        (Tag.PRIVATE_KEY, KFT.TRANSPARENT_EC_PUBLIC_KEY,  # a public form in a PrivateKey
         ec_pub(enums.RecommendedCurve.P_256, bytes(point)), ALG.EC, 256, RR.INVALID_FIELD),
        (Tag.PRIVATE_KEY, KFT.TRANSPARENT_EC_PRIVATE_KEY,
         S(Tag.KEY_MATERIAL, E(Tag.RECOMMENDED_CURVE, enums.RecommendedCurve.P_256.value),
           big(Tag.D, 0)), ALG.EC, 256, RR.INVALID_FIELD),
    ]
    for tag, fmt, mat, alg, length, reason in cases:
        r = register(module_server, key_object(tag, fmt, mat, alg, length), [MASK.SIGN])
        assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, reason.value), \
            (fmt, reason, r)
    kh_support.assert_alive(module_server.port)
