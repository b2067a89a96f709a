"""
Certificates and their public keys: when a Certificate and a PublicKey of the
same owner hold the same public key, whichever is registered second links
both (CertificateLink on the key, PublicKeyLink on the certificate). A Link
the client gives at Register is checked instead of searched for. Keys and
certificates are made locally with Python's `cryptography`; PyKMIP's
ProxyKmipClient registers them, hand-encoded TTLV carries what it cannot
(a Link at Register, a malformed certificate).
"""
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from kmip.core import enums
from kmip.pie import objects as pobjects

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import B, E, S, T

ALG = enums.CryptographicAlgorithm
KFT = enums.KeyFormatType
RR = enums.ResultReason
CERT_LINK = enums.LinkType.CERTIFICATE_LINK.value
PUB_LINK = enums.LinkType.PUBLIC_KEY_LINK.value
PRIV_LINK = enums.LinkType.PRIVATE_KEY_LINK.value


class Tag:
    ATTRIBUTE = 0x420008
    ATTRIBUTE_NAME = 0x42000A
    ATTRIBUTE_VALUE = 0x42000B
    CERTIFICATE = 0x420013
    CERTIFICATE_TYPE = 0x42001D
    CERTIFICATE_VALUE = 0x42001E
    LINK_TYPE = 0x42004B
    LINKED_OBJECT_IDENTIFIER = 0x42004C
    OBJECT_TYPE = 0x420057
    TEMPLATE_ATTRIBUTE = 0x420091
    UNIQUE_IDENTIFIER = 0x420094
    ATTRIBUTES = 0x420125
    LINK = 0x42004A


class Op:
    REGISTER = 0x03
    GET_ATTRIBUTES = 0x0B


def links(server, uid, who="alice"):
    """Sorted [(LinkType, uid)] of an object."""
    r = kh_support.call(server.port, Op.GET_ATTRIBUTES, T(Tag.UNIQUE_IDENTIFIER, uid),
                        T(Tag.ATTRIBUTE_NAME, "Link"), who=who)
    assert r.status == ttlv.STATUS_SUCCESS, r
    out = []
    for a in r.payload.find_all(Tag.ATTRIBUTE):
        v = a.find(Tag.ATTRIBUTE_VALUE)
        out.append((v.get(Tag.LINK_TYPE), v.get(Tag.LINKED_OBJECT_IDENTIFIER)))
    return sorted(out)


def new_key(kind):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()


def cert_for(public_key, cn="linked"):
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test issuer")]))
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(issuer_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def public_object(key, kind, fmt="x509"):
    pub = key.public_key()
    if fmt == "pkcs1":
        der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        kft = KFT.PKCS_1
    else:
        der = pub.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        kft = KFT.X_509
    alg, length = {"rsa": (ALG.RSA, 2048), "ec": (ALG.EC, 384), "ed25519": (ALG.ED25519, 256)}[kind]
    return pobjects.PublicKey(alg, length, der, kft)


@pytest.mark.parametrize("kind,fmt", [("rsa", "pkcs1"), ("rsa", "x509"), ("ec", "x509"),
                                      ("ed25519", "x509")])
def test_certificate_registered_after_its_key(module_server, client, kind, fmt):
    c = client(module_server)
    key = new_key(kind)
    other = c.register(public_object(new_key(kind), kind, fmt))  # a decoy, newer than nothing
    pub = c.register(public_object(key, kind, fmt))
    cert = c.register(pobjects.X509Certificate(cert_for(key.public_key())))
    assert links(module_server, cert) == [(PUB_LINK, pub)]
    assert links(module_server, pub) == [(CERT_LINK, cert)]
    assert links(module_server, other) == []


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_key_registered_after_its_certificate(module_server, client, kind):
    c = client(module_server)
    key = new_key(kind)
    cert = c.register(pobjects.X509Certificate(cert_for(key.public_key())))
    assert links(module_server, cert) == []
    pub = c.register(public_object(key, kind))
    assert links(module_server, pub) == [(CERT_LINK, cert)]
    assert links(module_server, cert) == [(PUB_LINK, pub)]


def test_certificate_for_a_server_made_key_pair(module_server, client):
    c = client(module_server)
    pub, priv = c.create_key_pair(ALG.EC, 256)
    spki = serialization.load_der_public_key(c.get(pub).value)
    cert = c.register(pobjects.X509Certificate(cert_for(spki)))
    assert links(module_server, cert) == [(PUB_LINK, pub)]
    assert links(module_server, pub) == sorted([(PRIV_LINK, priv), (CERT_LINK, cert)])
    # a renewed certificate for the same key links too; the key keeps both
    cert2 = c.register(pobjects.X509Certificate(cert_for(spki, cn="renewed")))
    assert links(module_server, cert2) == [(PUB_LINK, pub)]
    assert links(module_server, pub) == sorted([(PRIV_LINK, priv), (CERT_LINK, cert),
                                                (CERT_LINK, cert2)])


def test_unrelated_certificate_links_nothing(module_server, client):
    c = client(module_server)
    pub = c.register(public_object(new_key("ec"), "ec"))
    cert = c.register(pobjects.X509Certificate(cert_for(new_key("ec").public_key())))
    assert links(module_server, cert) == [] and links(module_server, pub) == []


def test_never_links_to_another_owners_key(server, client):
    alice, bob = client(server, "alice"), client(server, "bob")
    key = new_key("rsa")
    pub = alice.register(public_object(key, "rsa", "pkcs1"))
    cert = bob.register(pobjects.X509Certificate(cert_for(key.public_key())))
    assert links(server, cert, who="bob") == []
    assert links(server, pub) == []


# ---- a Link given at Register --------------------------------------------------------


def link_attr(link_type, uid):
    value = S(Tag.ATTRIBUTE_VALUE, E(Tag.LINK_TYPE, link_type),
              T(Tag.LINKED_OBJECT_IDENTIFIER, uid))
    return ttlv.attribute_v1("Link", value)


def register_cert(server, der, *attrs, who="alice"):
    obj = S(Tag.CERTIFICATE, E(Tag.CERTIFICATE_TYPE, enums.CertificateType.X_509.value),
            B(Tag.CERTIFICATE_VALUE, der))
    return kh_support.call(server.port, Op.REGISTER,
                           E(Tag.OBJECT_TYPE, enums.ObjectType.CERTIFICATE.value),
                           S(Tag.TEMPLATE_ATTRIBUTE, *attrs), obj, who=who)


def test_client_link_is_checked(server, client):
    c = client(server)
    key = new_key("ec")
    # two public keys of the same key material: the client picks the older one
    older = c.register(public_object(key, "ec"))
    newer = c.register(public_object(key, "ec"))
    r = register_cert(server, cert_for(key.public_key()), link_attr(PUB_LINK, older))
    assert r.status == ttlv.STATUS_SUCCESS, r
    cert = r.payload.get(Tag.UNIQUE_IDENTIFIER)
    assert links(server, cert) == [(PUB_LINK, older)]
    assert links(server, older) == [(CERT_LINK, cert)]
    assert links(server, newer) == []
    # without a link, the newest matching key is chosen
    r = register_cert(server, cert_for(key.public_key()))
    assert links(server, r.payload.get(Tag.UNIQUE_IDENTIFIER)) == [(PUB_LINK, newer)]


def test_client_link_refusals(server, client):
    alice, bob = client(server, "alice"), client(server, "bob")
    key = new_key("rsa")
    pub = alice.register(public_object(key, "rsa"))
    wrong = alice.register(public_object(new_key("rsa"), "rsa"))
    sym = alice.create(ALG.AES, 128)
    bobs = bob.register(public_object(key, "rsa"))
    der = cert_for(key.public_key())
    cases = [(wrong, RR.INVALID_FIELD),          # another key
             (sym, RR.INVALID_FIELD),            # not a public key
             ("no-such-object", RR.ITEM_NOT_FOUND),
             (bobs, RR.ITEM_NOT_FOUND)]          # someone else's, even with the same key
    for target, reason in cases:
        r = register_cert(server, der, link_attr(PUB_LINK, target))
        assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, reason.value), (target, r)
    assert alice.locate(attributes=[alice.attribute_factory.create_attribute(
        enums.AttributeType.OBJECT_TYPE, enums.ObjectType.CERTIFICATE)]) == []
    assert links(server, pub) == [] and links(server, wrong) == []
    assert links(server, bobs, who="bob") == []


@pytest.mark.parametrize("der", [b"not a certificate", b"\x30\x03\x02\x01\x01",
                                 cert_for(new_key("ec").public_key()) + b"\x00"],
                         ids=["junk", "short-der", "trailing-byte"])
def test_malformed_x509_refused(module_server, der):
    r = register_cert(module_server, der)
    assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, RR.INVALID_FIELD.value), r
    kh_support.assert_alive(module_server.port)


def test_certificate_get_round_trips(module_server, client):
    c = client(module_server)
    der = cert_for(new_key("rsa").public_key())
    got = c.get(c.register(pobjects.X509Certificate(der)))
    assert got.value == der and got.certificate_type == enums.CertificateType.X_509
