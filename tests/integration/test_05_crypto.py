"""
Cryptographic operations over KMIP: CreateKeyPair, Encrypt, Decrypt, Sign,
SignatureVerify, MAC, MACVerify, RNGRetrieve and Hash.

Every result is cross-checked with Python's `cryptography` (Debian
python3-cryptography) using the key material a Get returns: a signature
made by keyhold verifies locally, a ciphertext made locally decrypts on the
server and the reverse. Where PyKMIP's ProxyKmipClient cannot say something
(AAD and tags as separate fields, MACVerify, RNGRetrieve, Hash, digests,
KMIP 2.0 attribute containers) the request is encoded by hand with kh_ttlv.
"""
import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives import cmac, hashes, padding as sym_padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.pie import exceptions as pie_exceptions
from kmip.pie import objects as pobjects

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import B, E, I, S, T

RR = enums.ResultReason
ALG = enums.CryptographicAlgorithm
MASK = enums.CryptographicUsageMask
V = enums.KMIPVersion
FAILURES = (pie_exceptions.KmipOperationFailure, core_exceptions.OperationFailure)


class Tag:
    CRYPTOGRAPHIC_ALGORITHM = 0x420028
    CRYPTOGRAPHIC_LENGTH = 0x42002A
    CRYPTOGRAPHIC_PARAMETERS = 0x42002B
    BLOCK_CIPHER_MODE = 0x420011
    PADDING_METHOD = 0x42005F
    HASHING_ALGORITHM = 0x420038
    DIGITAL_SIGNATURE_ALGORITHM = 0x4200AE
    TAG_LENGTH = 0x4200CE
    IV_COUNTER_NONCE = 0x42003D
    DATA = 0x4200C2
    DIGESTED_DATA = 0x420107
    SIGNATURE_DATA = 0x4200C3
    MAC_DATA = 0x4200C6
    VALIDITY_INDICATOR = 0x42009B
    DATA_LENGTH = 0x4200C4
    AAD = 0x4200FE
    AE_TAG = 0x4200FF
    CORRELATION_VALUE = 0x4200D6
    UNIQUE_IDENTIFIER = 0x420094
    PRIVATE_KEY_UID = 0x420066
    PUBLIC_KEY_UID = 0x42006F
    COMMON_ATTRIBUTES = 0x420126
    COMMON_TEMPLATE_ATTRIBUTE = 0x42001F
    ATTRIBUTE_NAME = 0x42000A
    ATTRIBUTE = 0x420008
    ATTRIBUTE_VALUE = 0x42000B
    LINK_TYPE = 0x42004B
    LINKED_OBJECT_IDENTIFIER = 0x42004C
    CRYPTOGRAPHIC_USAGE_MASK = 0x42002C


class Op:
    CREATE_KEY_PAIR = 0x02
    GET_ATTRIBUTES = 0x0B
    ACTIVATE = 0x12
    ENCRYPT = 0x1F
    DECRYPT = 0x20
    SIGN = 0x21
    SIGNATURE_VERIFY = 0x22
    MAC = 0x23
    MAC_VERIFY = 0x24
    RNG_RETRIEVE = 0x25
    HASH = 0x27


GCM = enums.BlockCipherMode.GCM.value
VALID = enums.ValidityIndicator.VALID.value
INVALID = enums.ValidityIndicator.INVALID.value


def expect_failure(fn, *reasons):
    with pytest.raises(FAILURES) as ei:
        fn()
    assert ei.value.reason in reasons, "got %s, expected %s (%s)" % (ei.value.reason, reasons,
                                                                     ei.value)
    return ei.value


def raw(server, op, *payload, who="alice", version=(1, 4)):
    return kh_support.call(server.port, op, *payload, who=who, version=version)


def ok(result):
    assert result.status == ttlv.STATUS_SUCCESS, result
    return result.payload


def failed(result, reason):
    assert result.status == ttlv.STATUS_OPERATION_FAILED, result
    assert result.reason == reason.value, "got %r, expected %s" % (result, reason)
    return result


def params(**kw):
    """A CryptographicParameters structure from tag=value pairs (enums or ints)."""
    kids = []
    for name, value in kw.items():
        tag = getattr(Tag, name.upper())
        kids.append(I(tag, value) if name == "tag_length" else E(tag, getattr(value, "value", value)))
    return S(Tag.CRYPTOGRAPHIC_PARAMETERS, *kids)


def uid_item(uid):
    return T(Tag.UNIQUE_IDENTIFIER, uid)


def active_pair(c, alg, length, **kw):
    pub, priv = c.create_key_pair(alg, length, **kw)
    c.activate(pub)
    c.activate(priv)
    return pub, priv


def active_key(c, alg=ALG.AES, length=256, masks=(MASK.ENCRYPT, MASK.DECRYPT)):
    uid = c.create(alg, length, cryptographic_usage_mask=list(masks))
    c.activate(uid)
    return uid


def public_key(c, uid):
    return serialization.load_der_public_key(c.get(uid).value)


def private_key(c, uid):
    return serialization.load_der_private_key(c.get(uid).value, password=None)


def key_bytes(c, uid):
    return c.get(uid).value


# ---- CreateKeyPair ----------------------------------------------------------------


KINDS = [(ALG.RSA, 2048), (ALG.RSA, 3072), (ALG.RSA, 4096), (ALG.EC, 256), (ALG.EC, 384),
         (ALG.EC, 521), (ALG.ED25519, 256)]


@pytest.mark.parametrize("alg,length", KINDS, ids=["%s-%d" % (a.name, n) for a, n in KINDS])
def test_key_pair_sign_verifies_locally(alice, alg, length):
    pub, priv = active_pair(alice, alg, length)
    got_pub, got_priv = alice.get(pub), alice.get(priv)
    assert isinstance(got_pub, pobjects.PublicKey) and isinstance(got_priv, pobjects.PrivateKey)
    rsa_key = alg == ALG.RSA
    assert got_priv.key_format_type == (enums.KeyFormatType.PKCS_1 if rsa_key
                                        else enums.KeyFormatType.PKCS_8)
    assert got_pub.key_format_type == (enums.KeyFormatType.PKCS_1 if rsa_key
                                       else enums.KeyFormatType.X_509)
    local_priv = serialization.load_der_private_key(got_priv.value, password=None)
    local_pub = serialization.load_der_public_key(got_pub.value)
    assert local_priv.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        local_pub.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    message = b"signed by keyhold " + os.urandom(8)
    sig = alice.sign(message, uid=priv)
    if rsa_key:
        assert local_pub.key_size == length
        local_pub.verify(sig, message, padding.PSS(padding.MGF1(hashes.SHA256()),
                                                   padding.PSS.AUTO), hashes.SHA256())
    elif alg == ALG.EC:
        assert local_pub.curve.key_size == length
        local_pub.verify(sig, message, ec.ECDSA(hashes.SHA256()))
    else:
        assert isinstance(local_pub, ed25519.Ed25519PublicKey)
        local_pub.verify(sig, message)
    assert alice.signature_verify(message, sig, uid=pub) == enums.ValidityIndicator.VALID
    assert alice.signature_verify(message + b"!", sig, uid=pub) == enums.ValidityIndicator.INVALID


def links_of(server, uid):
    p = ok(raw(server, Op.GET_ATTRIBUTES, uid_item(uid), T(Tag.ATTRIBUTE_NAME, "Link"),
               version=(1, 2)))
    out = {}
    for a in p.find_all(Tag.ATTRIBUTE):
        v = a.find(Tag.ATTRIBUTE_VALUE)
        out[v.get(Tag.LINK_TYPE)] = v.get(Tag.LINKED_OBJECT_IDENTIFIER)
    return out


def test_key_pair_links_both_ways_and_default_masks(module_server, alice):
    pub, priv = alice.create_key_pair(ALG.EC, 256)
    assert links_of(module_server, priv) == {enums.LinkType.PUBLIC_KEY_LINK.value: pub}
    assert links_of(module_server, pub) == {enums.LinkType.PRIVATE_KEY_LINK.value: priv}
    attrs = dict((a.attribute_name.value, a.attribute_value)
                 for a in alice.get_attributes(priv, ["Cryptographic Usage Mask", "State"])[1])
    assert attrs["State"].value == enums.State.PRE_ACTIVE
    assert attrs["Cryptographic Usage Mask"].value == MASK.SIGN.value


def test_key_pair_usage_masks_and_names(alice):
    pub, priv = alice.create_key_pair(ALG.RSA, 2048, public_name="pub-n",
                                      public_usage_mask=[MASK.VERIFY], private_name="priv-n",
                                      private_usage_mask=[MASK.SIGN])
    alice.activate(pub)
    alice.activate(priv)
    assert alice.locate(attributes=[alice.attribute_factory.create_attribute(
        enums.AttributeType.NAME, "priv-n")]) == [priv]
    # the private key may not decrypt, the public key may not encrypt
    expect_failure(lambda: alice.encrypt(b"x", uid=pub), RR.PERMISSION_DENIED)
    expect_failure(lambda: alice.sign(b"x", uid=pub), RR.PERMISSION_DENIED)


@pytest.mark.parametrize("alg,length,reason", [
    (ALG.RSA, 1024, RR.INVALID_FIELD), (ALG.EC, 255, RR.INVALID_FIELD),
    (ALG.DSA, 2048, RR.FEATURE_NOT_SUPPORTED), (ALG.AES, 256, RR.FEATURE_NOT_SUPPORTED)])
def test_key_pair_rejects(alice, alg, length, reason):
    expect_failure(lambda: alice.create_key_pair(alg, length), reason)


def test_key_pair_kmip_2_0_pykmip(module_server, client):
    c = client(module_server, version=V.KMIP_2_0)
    pub, priv = c.create_key_pair(ALG.EC, 384)
    assert c.get(pub).key_format_type == enums.KeyFormatType.X_509
    assert links_of(module_server, pub) == {enums.LinkType.PRIVATE_KEY_LINK.value: priv}


@pytest.mark.parametrize("version", [(2, 0), (2, 1)])
def test_key_pair_kmip_2_by_hand(module_server, version):
    common = S(Tag.COMMON_ATTRIBUTES, E(Tag.CRYPTOGRAPHIC_ALGORITHM, ALG.ED25519.value))
    p = ok(raw(module_server, Op.CREATE_KEY_PAIR, common, version=version))
    priv, pub = p.get(Tag.PRIVATE_KEY_UID), p.get(Tag.PUBLIC_KEY_UID)
    assert priv != pub
    # a 1.x container in a 2.x message is the wrong shape
    tmpl = S(Tag.COMMON_TEMPLATE_ATTRIBUTE)
    failed(raw(module_server, Op.CREATE_KEY_PAIR, tmpl, version=version), RR.INVALID_MESSAGE)


def test_key_pair_placeholder_is_private_key(module_server):
    common = S(Tag.COMMON_TEMPLATE_ATTRIBUTE,
               ttlv.attribute_v1("Cryptographic Algorithm", E(0, ALG.EC.value)),
               ttlv.attribute_v1("Cryptographic Length", I(0, 256)))
    r = ttlv.parse_response(kh_support.raw_request(module_server.port, "alice", ttlv.request(
        ttlv.batch_item(Op.CREATE_KEY_PAIR, common), ttlv.batch_item(Op.ACTIVATE),
        ttlv.batch_item(Op.SIGN, B(Tag.DATA, b"batched")), version=(1, 2))))
    assert [i.status for i in r.items] == [ttlv.STATUS_SUCCESS] * 3, r
    priv = r.items[0].payload.get(Tag.PRIVATE_KEY_UID)
    assert r.items[2].payload.get(Tag.UNIQUE_IDENTIFIER) == priv


# ---- signatures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_pair(alice):
    return active_pair(alice, ALG.RSA, 2048)


RSA_SCHEMES = [
    ({}, lambda: padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256()),
    ({"padding_method": enums.PaddingMethod.PSS, "hashing_algorithm": enums.HashingAlgorithm.SHA_512},
     lambda: padding.PSS(padding.MGF1(hashes.SHA512()), padding.PSS.AUTO), hashes.SHA512()),
    ({"padding_method": enums.PaddingMethod.PKCS1v15,
      "hashing_algorithm": enums.HashingAlgorithm.SHA_256},
     padding.PKCS1v15, hashes.SHA256()),
    ({"digital_signature_algorithm":
      enums.DigitalSignatureAlgorithm.SHA384_WITH_RSA_ENCRYPTION},
     padding.PKCS1v15, hashes.SHA384()),
    ({"digital_signature_algorithm": enums.DigitalSignatureAlgorithm.RSASSA_PSS,
      "hashing_algorithm": enums.HashingAlgorithm.SHA_256},
     lambda: padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256()),
]


@pytest.mark.parametrize("cp,pad,hash_", RSA_SCHEMES, ids=["default", "pss-512", "pkcs1",
                                                            "dsa-sha384", "dsa-pss"])
def test_rsa_sign_schemes(alice, rsa_pair, cp, pad, hash_):
    pub, priv = rsa_pair
    sig = alice.sign(b"message", uid=priv, cryptographic_parameters=cp or None)
    public_key(alice, pub).verify(sig, b"message", pad(), hash_)
    assert alice.signature_verify(b"message", sig, uid=pub, cryptographic_parameters=cp or None) \
        == enums.ValidityIndicator.VALID


def test_local_signature_verifies_on_server(alice, rsa_pair):
    pub, priv = rsa_pair
    sig = private_key(alice, priv).sign(b"made locally", padding.PKCS1v15(), hashes.SHA256())
    cp = {"padding_method": enums.PaddingMethod.PKCS1v15,
          "hashing_algorithm": enums.HashingAlgorithm.SHA_256}
    assert alice.signature_verify(b"made locally", sig, uid=pub, cryptographic_parameters=cp) \
        == enums.ValidityIndicator.VALID
    assert alice.signature_verify(b"made locally", sig[:-1] + b"\0", uid=pub,
                                  cryptographic_parameters=cp) == enums.ValidityIndicator.INVALID


def test_sign_digest(module_server, alice):
    pub, priv = active_pair(alice, ALG.EC, 384)
    digest = hashlib.sha384(b"hashed by the client").digest()
    cp = params(hashing_algorithm=enums.HashingAlgorithm.SHA_384)
    sig = ok(raw(module_server, Op.SIGN, uid_item(priv), cp, B(Tag.DIGESTED_DATA, digest)))
    sig = sig.get(Tag.SIGNATURE_DATA)
    public_key(alice, pub).verify(sig, digest, ec.ECDSA(utils.Prehashed(hashes.SHA384())))
    v = ok(raw(module_server, Op.SIGNATURE_VERIFY, uid_item(pub), cp, B(Tag.DIGESTED_DATA, digest),
               B(Tag.SIGNATURE_DATA, sig)))
    assert v.get(Tag.VALIDITY_INDICATOR) == VALID
    # a digest of the wrong length, and DigestedData in a 1.2 message
    failed(raw(module_server, Op.SIGN, uid_item(priv), cp, B(Tag.DIGESTED_DATA, digest[:20])),
           RR.INVALID_FIELD)
    failed(raw(module_server, Op.SIGN, uid_item(priv), cp, B(Tag.DIGESTED_DATA, digest),
               version=(1, 2)), RR.INVALID_MESSAGE)


def test_sign_rejects(module_server, alice, rsa_pair):
    pub, priv = rsa_pair
    ed_pub, ed_priv = active_pair(alice, ALG.ED25519, 256)
    # Ed25519 signs messages, not digests; a hash makes no sense for it
    failed(raw(module_server, Op.SIGN, uid_item(ed_priv), B(Tag.DIGESTED_DATA, bytes(32))),
           RR.INVALID_FIELD)
    failed(raw(module_server, Op.SIGN, uid_item(ed_priv),
               params(hashing_algorithm=enums.HashingAlgorithm.SHA_256), B(Tag.DATA, b"x")),
           RR.INVALID_FIELD)
    # an ECDSA algorithm for an RSA key; MD5
    failed(raw(module_server, Op.SIGN, uid_item(priv), params(
        digital_signature_algorithm=enums.DigitalSignatureAlgorithm.ECDSA_WITH_SHA256),
        B(Tag.DATA, b"x")), RR.INVALID_FIELD)
    failed(raw(module_server, Op.SIGN, uid_item(priv),
               params(hashing_algorithm=enums.HashingAlgorithm.MD5), B(Tag.DATA, b"x")),
           RR.FEATURE_NOT_SUPPORTED)
    # no data; streaming
    failed(raw(module_server, Op.SIGN, uid_item(priv)), RR.MISSING_DATA)
    failed(raw(module_server, Op.SIGN, uid_item(priv), B(Tag.DATA, b"x"),
               B(Tag.CORRELATION_VALUE, b"c")), RR.FEATURE_NOT_SUPPORTED)
    # verification without a signature
    failed(raw(module_server, Op.SIGNATURE_VERIFY, uid_item(pub), B(Tag.DATA, b"x")),
           RR.MISSING_DATA)


# ---- symmetric encryption --------------------------------------------------------


@pytest.fixture(scope="module")
def aes(alice):
    uid = active_key(alice)
    return uid, key_bytes(alice, uid)


def test_gcm_pykmip_1_2_tag_follows_ciphertext(alice, aes):
    uid, key = aes
    ct, iv = alice.encrypt(b"attack at dawn", uid=uid)
    assert len(iv) == 12 and len(ct) == 14 + 16
    assert AESGCM(key).decrypt(iv, ct, None) == b"attack at dawn"
    # and the reverse: made locally, opened by the server
    iv2 = os.urandom(12)
    local = AESGCM(key).encrypt(iv2, b"from the client", None)
    assert alice.decrypt(local, uid=uid, iv_counter_nonce=iv2) == b"from the client"
    # a flipped bit in the tag
    bad = local[:-1] + bytes([local[-1] ^ 1])
    expect_failure(lambda: alice.decrypt(bad, uid=uid, iv_counter_nonce=iv2),
                   RR.CRYPTOGRAPHIC_FAILURE)


@pytest.mark.parametrize("version", [(1, 4), (2, 0)])
def test_gcm_aad_and_tag_fields(module_server, alice, aes, version):
    uid, key = aes
    cp = params(block_cipher_mode=GCM, tag_length=12)
    p = ok(raw(module_server, Op.ENCRYPT, uid_item(uid), cp, B(Tag.DATA, b"payload"),
               B(Tag.AAD, b"header"), version=version))
    ct, iv, tag = p.get(Tag.DATA), p.get(Tag.IV_COUNTER_NONCE), p.get(Tag.AE_TAG)
    assert len(ct) == 7 and len(tag) == 12
    dec = Cipher(algorithms.AES(key), modes.GCM(iv, tag, min_tag_length=12)).decryptor()
    dec.authenticate_additional_data(b"header")
    assert dec.update(ct) + dec.finalize() == b"payload"
    # the server opens what it sealed...
    def decrypt(data=ct, aad=b"header", tag_=tag, uid_=uid, who="alice"):
        return raw(module_server, Op.DECRYPT, uid_item(uid_), cp, B(Tag.DATA, data),
                   B(Tag.IV_COUNTER_NONCE, iv), B(Tag.AAD, aad) if aad is not None else None,
                   B(Tag.AE_TAG, tag_) if tag_ is not None else None, version=version, who=who)
    assert ok(decrypt()).get(Tag.DATA) == b"payload"
    # ...and nothing else
    failed(decrypt(tag_=bytes(12)), RR.CRYPTOGRAPHIC_FAILURE)
    failed(decrypt(aad=b"Header"), RR.CRYPTOGRAPHIC_FAILURE)
    failed(decrypt(aad=None), RR.CRYPTOGRAPHIC_FAILURE)
    failed(decrypt(data=bytes([ct[0] ^ 1]) + ct[1:]), RR.CRYPTOGRAPHIC_FAILURE)
    failed(decrypt(tag_=None), RR.MISSING_DATA)
    other = active_key(alice)
    failed(decrypt(uid_=other), RR.CRYPTOGRAPHIC_FAILURE)
    failed(decrypt(who="bob"), RR.ITEM_NOT_FOUND)


def test_gcm_client_iv_and_aad_in_1_2_refused(module_server, aes):
    uid, key = aes
    iv = os.urandom(12)
    p = ok(raw(module_server, Op.ENCRYPT, uid_item(uid), B(Tag.DATA, b"x"),
               B(Tag.IV_COUNTER_NONCE, iv), version=(1, 2)))
    assert p.find(Tag.IV_COUNTER_NONCE) is None  # only a server-chosen IV is returned
    assert AESGCM(key).decrypt(iv, p.get(Tag.DATA), None) == b"x"
    failed(raw(module_server, Op.ENCRYPT, uid_item(uid), B(Tag.DATA, b"x"), B(Tag.AAD, b"a"),
               version=(1, 2)), RR.INVALID_MESSAGE)
    failed(raw(module_server, Op.ENCRYPT, uid_item(uid), B(Tag.DATA, b"x"), version=(1, 1)),
           RR.OPERATION_NOT_SUPPORTED)
    failed(raw(module_server, Op.ENCRYPT, uid_item(uid), B(Tag.DATA, b"x"),
               B(Tag.IV_COUNTER_NONCE, b"short")), RR.INVALID_FIELD)
    failed(raw(module_server, Op.DECRYPT, uid_item(uid), B(Tag.DATA, bytes(32))),
           RR.MISSING_DATA)


def test_cbc_pkcs5_cross_checked(alice, aes):
    uid, key = aes
    cp = {"block_cipher_mode": enums.BlockCipherMode.CBC,
          "padding_method": enums.PaddingMethod.PKCS5}
    ct, iv = alice.encrypt(b"sixteen bytes!!!+3", uid=uid, cryptographic_parameters=cp)
    assert len(ct) == 32
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpad = sym_padding.PKCS7(128).unpadder()
    assert unpad.update(dec.update(ct) + dec.finalize()) + unpad.finalize() == b"sixteen bytes!!!+3"
    iv2 = os.urandom(16)
    pad = sym_padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv2)).encryptor()
    local = enc.update(pad.update(b"local") + pad.finalize()) + enc.finalize()
    assert alice.decrypt(local, uid=uid, cryptographic_parameters=cp, iv_counter_nonce=iv2) == \
        b"local"
    # a ciphertext that is not whole blocks, and a bad IV length
    expect_failure(lambda: alice.decrypt(local[:-1], uid=uid, cryptographic_parameters=cp,
                                         iv_counter_nonce=iv2), RR.CRYPTOGRAPHIC_FAILURE)
    expect_failure(lambda: alice.encrypt(b"x", uid=uid, cryptographic_parameters=cp,
                                         iv_counter_nonce=bytes(12)), RR.INVALID_FIELD)
    nopad = dict(cp, padding_method=enums.PaddingMethod.NONE)
    expect_failure(lambda: alice.encrypt(b"x", uid=uid, cryptographic_parameters=nopad),
                   RR.INVALID_FIELD)


def test_ctr_cross_checked(alice, aes):
    uid, key = aes
    cp = {"block_cipher_mode": enums.BlockCipherMode.CTR}
    ct, iv = alice.encrypt(b"counter mode", uid=uid, cryptographic_parameters=cp)
    dec = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
    assert dec.update(ct) + dec.finalize() == b"counter mode"
    assert alice.decrypt(ct, uid=uid, cryptographic_parameters=cp, iv_counter_nonce=iv) == \
        b"counter mode"


def test_ecb_refused(alice, aes):
    uid, _ = aes
    expect_failure(lambda: alice.encrypt(b"x" * 16, uid=uid, cryptographic_parameters={
        "block_cipher_mode": enums.BlockCipherMode.ECB}), RR.FEATURE_NOT_SUPPORTED)


def test_stored_parameters_are_the_default(module_server, alice):
    """The key's Cryptographic Parameters attribute stands in for absent request fields."""
    uid = alice.create(ALG.AES, 128, cryptographic_usage_mask=[MASK.ENCRYPT, MASK.DECRYPT])
    cbc = S(0, E(Tag.BLOCK_CIPHER_MODE, enums.BlockCipherMode.CBC.value))
    ok(raw(module_server, 0x0D, uid_item(uid), ttlv.attribute_v1("Cryptographic Parameters", cbc),
           version=(1, 2)))
    alice.activate(uid)
    ct, iv = alice.encrypt(b"defaults", uid=uid)
    assert len(iv) == 16 and len(ct) == 16  # CBC with PKCS#5 padding, not GCM
    assert alice.decrypt(ct, uid=uid, iv_counter_nonce=iv) == b"defaults"


def test_chacha20_poly1305(module_server, alice):
    key = ChaCha20Poly1305.generate_key()
    uid = alice.register(pobjects.SymmetricKey(ALG.CHACHA20_POLY1305, 256, key,
                                               masks=[MASK.ENCRYPT, MASK.DECRYPT]))
    alice.activate(uid)
    p = ok(raw(module_server, Op.ENCRYPT, uid_item(uid), B(Tag.DATA, b"chacha"),
               B(Tag.AAD, b"aad")))
    nonce, ct, tag = p.get(Tag.IV_COUNTER_NONCE), p.get(Tag.DATA), p.get(Tag.AE_TAG)
    assert len(nonce) == 12 and len(tag) == 16
    assert ChaCha20Poly1305(key).decrypt(nonce, ct + tag, b"aad") == b"chacha"
    n2 = os.urandom(12)
    local = ChaCha20Poly1305(key).encrypt(n2, b"local chacha", b"")
    assert alice.decrypt(local, uid=uid, iv_counter_nonce=n2) == b"local chacha"
    expect_failure(lambda: alice.decrypt(local[:-1] + b"\0", uid=uid, iv_counter_nonce=n2),
                   RR.CRYPTOGRAPHIC_FAILURE)


# ---- RSA encryption --------------------------------------------------------------


@pytest.mark.parametrize("hashing,local_hash", [(enums.HashingAlgorithm.SHA_1, hashes.SHA1),
                                                (enums.HashingAlgorithm.SHA_256, hashes.SHA256)])
def test_rsa_oaep_both_ways(alice, rsa_pair, hashing, local_hash):
    pub, priv = rsa_pair
    cp = {"padding_method": enums.PaddingMethod.OAEP, "hashing_algorithm": hashing}
    oaep = padding.OAEP(mgf=padding.MGF1(local_hash()), algorithm=local_hash(), label=None)
    local = public_key(alice, pub).encrypt(b"wrapped secret", oaep)
    assert alice.decrypt(local, uid=priv, cryptographic_parameters=cp) == b"wrapped secret"
    ct, iv = alice.encrypt(b"for the client", uid=pub, cryptographic_parameters=cp)
    assert iv is None
    assert private_key(alice, priv).decrypt(ct, oaep) == b"for the client"
    # garbage and another key's ciphertext are refused, not "decrypted"
    expect_failure(lambda: alice.decrypt(bytes(256), uid=priv, cryptographic_parameters=cp),
                   RR.CRYPTOGRAPHIC_FAILURE)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    expect_failure(lambda: alice.decrypt(other.encrypt(b"x", oaep), uid=priv,
                                         cryptographic_parameters=cp), RR.CRYPTOGRAPHIC_FAILURE)


def test_rsa_default_is_oaep_sha256(alice, rsa_pair):
    pub, priv = rsa_pair
    ct, _ = alice.encrypt(b"defaults", uid=pub)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert private_key(alice, priv).decrypt(ct, oaep) == b"defaults"


def test_rsa_pkcs1v15_decrypt_only(module_server, alice, rsa_pair):
    pub, priv = rsa_pair
    cp = {"padding_method": enums.PaddingMethod.PKCS1v15}
    local = public_key(alice, pub).encrypt(b"legacy", padding.PKCS1v15())
    assert alice.decrypt(local, uid=priv, cryptographic_parameters=cp) == b"legacy"
    assert "PKCS#1 v1.5" in module_server.log()
    expect_failure(lambda: alice.encrypt(b"x", uid=pub, cryptographic_parameters=cp),
                   RR.FEATURE_NOT_SUPPORTED)


# ---- usage mask, state, ownership --------------------------------------------------


def registered_aes(c, masks):
    """PyKMIP's create() always adds Encrypt and Decrypt to the mask; Register does not."""
    kw = {"masks": list(masks)} if masks is not None else {}
    uid = c.register(pobjects.SymmetricKey(ALG.AES, 128, os.urandom(16), **kw))
    c.activate(uid)
    return uid


def test_usage_mask_enforced(alice):
    uid = registered_aes(alice, [MASK.DECRYPT])
    expect_failure(lambda: alice.encrypt(b"x", uid=uid), RR.PERMISSION_DENIED)
    uid = registered_aes(alice, [MASK.ENCRYPT])
    ct, iv = alice.encrypt(b"x", uid=uid)
    expect_failure(lambda: alice.decrypt(ct, uid=uid, iv_counter_nonce=iv), RR.PERMISSION_DENIED)
    uid = registered_aes(alice, None)  # no mask at all: no use at all
    expect_failure(lambda: alice.encrypt(b"x", uid=uid), RR.PERMISSION_DENIED)
    expect_failure(lambda: alice.mac(b"x", uid=uid), RR.PERMISSION_DENIED)


def test_state_rules(alice):
    uid = alice.create(ALG.AES, 256, cryptographic_usage_mask=[MASK.ENCRYPT, MASK.DECRYPT])
    expect_failure(lambda: alice.encrypt(b"x", uid=uid), RR.ILLEGAL_OPERATION)  # PreActive
    alice.activate(uid)
    ct, iv = alice.encrypt(b"before revocation", uid=uid)
    alice.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)  # -> Deactivated
    assert alice.decrypt(ct, uid=uid, iv_counter_nonce=iv) == b"before revocation"
    expect_failure(lambda: alice.encrypt(b"x", uid=uid), RR.ILLEGAL_OPERATION)
    alice.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid)  # -> Compromised
    assert alice.decrypt(ct, uid=uid, iv_counter_nonce=iv) == b"before revocation"
    alice.destroy(uid)
    expect_failure(lambda: alice.decrypt(ct, uid=uid, iv_counter_nonce=iv),
                   RR.KEY_VALUE_NOT_PRESENT)


def test_other_principal_cannot_use(alice, bob, aes, rsa_pair):
    uid, _ = aes
    pub, priv = rsa_pair
    expect_failure(lambda: bob.encrypt(b"x", uid=uid), RR.ITEM_NOT_FOUND)
    expect_failure(lambda: bob.sign(b"x", uid=priv), RR.ITEM_NOT_FOUND)
    expect_failure(lambda: bob.signature_verify(b"x", b"y", uid=pub), RR.ITEM_NOT_FOUND)
    expect_failure(lambda: bob.mac(b"x", uid=uid), RR.ITEM_NOT_FOUND)


def test_wrong_kind_of_key(alice, aes, rsa_pair):
    uid, _ = aes
    pub, priv = rsa_pair
    expect_failure(lambda: alice.sign(b"x", uid=uid), RR.PERMISSION_DENIED)  # no Sign usage
    expect_failure(lambda: alice.encrypt(b"x", uid=uid, cryptographic_parameters={
        "cryptographic_algorithm": ALG.RSA}), RR.INVALID_FIELD)


# ---- MAC ---------------------------------------------------------------------


@pytest.mark.parametrize("alg,digest", [(ALG.HMAC_SHA256, hashlib.sha256),
                                        (ALG.HMAC_SHA384, hashlib.sha384),
                                        (ALG.HMAC_SHA512, hashlib.sha512)])
def test_hmac_cross_checked(module_server, alice, alg, digest):
    uid = active_key(alice, alg, 256, masks=[MASK.MAC_GENERATE, MASK.MAC_VERIFY])
    key = key_bytes(alice, uid)
    got_uid, mac = alice.mac(b"authenticate me", uid=uid, algorithm=alg)
    assert got_uid == uid
    assert mac == hmac.new(key, b"authenticate me", digest).digest()
    def verify(data, mac_):
        return ok(raw(module_server, Op.MAC_VERIFY, uid_item(uid), B(Tag.DATA, data),
                      B(Tag.MAC_DATA, mac_), version=(1, 2))).get(Tag.VALIDITY_INDICATOR)
    assert verify(b"authenticate me", mac) == VALID
    assert verify(b"authenticate me!", mac) == INVALID
    assert verify(b"authenticate me", mac[:16]) == INVALID  # truncated MACs are not accepted
    other = ALG.HMAC_SHA512 if alg != ALG.HMAC_SHA512 else ALG.HMAC_SHA256
    expect_failure(lambda: alice.mac(b"x", uid=uid, algorithm=other), RR.INVALID_FIELD)


def test_cmac_aes(module_server, alice):
    uid = active_key(alice, ALG.AES, 128, masks=[MASK.MAC_GENERATE])
    key = key_bytes(alice, uid)
    p = ok(raw(module_server, Op.MAC, uid_item(uid),
               params(block_cipher_mode=enums.BlockCipherMode.CMAC), B(Tag.DATA, b"cmac me")))
    c = cmac.CMAC(algorithms.AES(key))
    c.update(b"cmac me")
    assert p.get(Tag.MAC_DATA) == c.finalize()
    # MAC Generate only: verification is not allowed
    failed(raw(module_server, Op.MAC_VERIFY, uid_item(uid), B(Tag.DATA, b"cmac me"),
               B(Tag.MAC_DATA, p.get(Tag.MAC_DATA))), RR.PERMISSION_DENIED)


def test_mac_needs_mac_usage(alice, aes):
    uid, _ = aes
    expect_failure(lambda: alice.mac(b"x", uid=uid), RR.PERMISSION_DENIED)


def test_verify_shapes_rejected_cleanly(module_server):
    """Regression (found by fuzz_kmip): a verification that failed before
    running freed an uninitialised result."""
    for op in (Op.MAC_VERIFY, Op.SIGNATURE_VERIFY):
        failed(raw(module_server, op, B(Tag.DATA, b"x")), RR.MISSING_DATA)  # no uid, no placeholder
        failed(raw(module_server, op, uid_item("x"), I(Tag.CRYPTOGRAPHIC_PARAMETERS, 1),
                   B(Tag.DATA, b"x")), RR.INVALID_FIELD)
    kh_support.assert_alive(module_server.port)


# ---- RNGRetrieve, Hash --------------------------------------------------------------


def test_rng_retrieve(module_server):
    a = ok(raw(module_server, Op.RNG_RETRIEVE, I(Tag.DATA_LENGTH, 32), version=(1, 2)))
    b = ok(raw(module_server, Op.RNG_RETRIEVE, I(Tag.DATA_LENGTH, 32), version=(2, 0)))
    assert len(a.get(Tag.DATA)) == 32 and a.get(Tag.DATA) != b.get(Tag.DATA)
    failed(raw(module_server, Op.RNG_RETRIEVE, I(Tag.DATA_LENGTH, 0)), RR.INVALID_FIELD)
    failed(raw(module_server, Op.RNG_RETRIEVE, I(Tag.DATA_LENGTH, 1 << 20)), RR.INVALID_FIELD)
    failed(raw(module_server, Op.RNG_RETRIEVE), RR.MISSING_DATA)


@pytest.mark.parametrize("hashing,fn", [(enums.HashingAlgorithm.SHA_256, hashlib.sha256),
                                        (enums.HashingAlgorithm.SHA_512, hashlib.sha512),
                                        (enums.HashingAlgorithm.SHA3_256, hashlib.sha3_256)])
def test_hash(module_server, hashing, fn):
    p = ok(raw(module_server, Op.HASH, params(hashing_algorithm=hashing), B(Tag.DATA, b"abc")))
    assert p.get(Tag.DATA) == fn(b"abc").digest()


def test_hash_rejects(module_server):
    failed(raw(module_server, Op.HASH, B(Tag.DATA, b"abc")), RR.MISSING_DATA)
    failed(raw(module_server, Op.HASH, params(hashing_algorithm=enums.HashingAlgorithm.MD5),
               B(Tag.DATA, b"abc")), RR.FEATURE_NOT_SUPPORTED)
    failed(raw(module_server, Op.HASH, params(hashing_algorithm=enums.HashingAlgorithm.SHA_256)),
           RR.MISSING_DATA)


def test_query_lists_crypto_operations(module_server):
    r = kh_support.query(module_server.port)
    ops = {k.value for k in r.items[0].payload.find_all(ttlv.Tag.OPERATION)}
    assert {Op.CREATE_KEY_PAIR, Op.ENCRYPT, Op.DECRYPT, Op.SIGN, Op.SIGNATURE_VERIFY, Op.MAC,
            Op.MAC_VERIFY, Op.RNG_RETRIEVE, Op.HASH} <= ops
