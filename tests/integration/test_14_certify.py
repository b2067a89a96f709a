"""
Certify: keyhold issues X.509 certificates with a CA key and certificate the
caller keeps in keyhold, for a PKCS#10 request or a public key it holds.
PyKMIP 0.10 has no Certify, so requests are hand-encoded TTLV; every
certificate is checked with Python's `cryptography`: subject, issuer, key,
extensions, validity, and the signature against the CA's public key.
"""
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from kmip.core import enums
from kmip.pie import objects as pobjects

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import B, DT, E, S, T

ALG = enums.CryptographicAlgorithm
KFT = enums.KeyFormatType
MASK = enums.CryptographicUsageMask
RR = enums.ResultReason
PKCS10, PEM, CRMF = 2, 3, 1
PRIV_LINK = enums.LinkType.PRIVATE_KEY_LINK.value
CERT_LINK = enums.LinkType.CERTIFICATE_LINK.value
PUB_LINK = enums.LinkType.PUBLIC_KEY_LINK.value


class Tag:
    ATTRIBUTE = 0x420008
    ATTRIBUTE_NAME = 0x42000A
    ATTRIBUTE_VALUE = 0x42000B
    CERTIFICATE_REQUEST = 0x420018
    CERTIFICATE_REQUEST_TYPE = 0x420019
    DEACTIVATION_DATE = 0x42002F
    LINK = 0x42004A
    LINK_TYPE = 0x42004B
    LINKED_OBJECT_IDENTIFIER = 0x42004C
    NAME = 0x420053
    NAME_TYPE = 0x420054
    NAME_VALUE = 0x420055
    TEMPLATE_ATTRIBUTE = 0x420091
    UNIQUE_IDENTIFIER = 0x420094
    ATTRIBUTES = 0x420125


class Op:
    CERTIFY = 0x06
    GET_ATTRIBUTES = 0x0B


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "keyhold tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def self_signed_ca(key, cn="test CA"):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()))


def csr_for(key, cn="service.example"):
    return (x509.CertificateSigningRequestBuilder().subject_name(name(cn))
            .sign(key, hashes.SHA256()))


def verify_signed_by(cert, issuer_public):
    if isinstance(issuer_public, rsa.RSAPublicKey):
        issuer_public.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                             cert.signature_hash_algorithm)
    elif isinstance(issuer_public, ec.EllipticCurvePublicKey):
        issuer_public.verify(cert.signature, cert.tbs_certificate_bytes,
                             ec.ECDSA(cert.signature_hash_algorithm))
    else:
        issuer_public.verify(cert.signature, cert.tbs_certificate_bytes)


def spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def link_item(version, link_type, uid):
    if version[0] >= 2:
        return S(Tag.LINK, E(Tag.LINK_TYPE, link_type), T(Tag.LINKED_OBJECT_IDENTIFIER, uid))
    return ttlv.attribute_v1("Link", S(0, E(Tag.LINK_TYPE, link_type),
                                       T(Tag.LINKED_OBJECT_IDENTIFIER, uid)))


def name_item(version, text):
    value = S(Tag.NAME, T(Tag.NAME_VALUE, text), E(Tag.NAME_TYPE, 1))
    return value if version[0] >= 2 else ttlv.attribute_v1("Name", value)


def certify(server, *, uid=None, csr=None, req_type=PKCS10, priv=None, issuer=None, extra=(),
            version=(1, 2), who="alice"):
    attrs = [link_item(version, PRIV_LINK, priv) if priv else None,
             link_item(version, CERT_LINK, issuer) if issuer else None, *extra]
    container = Tag.ATTRIBUTES if version[0] >= 2 else Tag.TEMPLATE_ATTRIBUTE
    payload = [T(Tag.UNIQUE_IDENTIFIER, uid) if uid else None,
               E(Tag.CERTIFICATE_REQUEST_TYPE, req_type) if csr is not None else None,
               B(Tag.CERTIFICATE_REQUEST, csr) if csr is not None else None,
               S(container, *[a for a in attrs if a is not None])]
    return kh_support.call(server.port, Op.CERTIFY, *[p for p in payload if p is not None],
                           who=who, version=version)


def issued(client, r):
    assert r.status == ttlv.STATUS_SUCCESS, r
    uid = r.payload.get(Tag.UNIQUE_IDENTIFIER)
    got = client.get(uid)
    assert isinstance(got, pobjects.X509Certificate)
    return uid, x509.load_der_x509_certificate(got.value)


def links(server, uid):
    r = kh_support.call(server.port, Op.GET_ATTRIBUTES, T(Tag.UNIQUE_IDENTIFIER, uid),
                        T(Tag.ATTRIBUTE_NAME, "Link"))
    assert r.status == ttlv.STATUS_SUCCESS, r
    return sorted((a.find(Tag.ATTRIBUTE_VALUE).get(Tag.LINK_TYPE),
                   a.find(Tag.ATTRIBUTE_VALUE).get(Tag.LINKED_OBJECT_IDENTIFIER))
                  for a in r.payload.find_all(Tag.ATTRIBUTE))


def load_ca(client, kind="ec"):
    """A CA key (registered, Active, Sign) and its certificate, in keyhold."""
    if kind == "ec":
        key, alg, length = ec.generate_private_key(ec.SECP256R1()), ALG.EC, 256
    elif kind == "rsa":
        key, alg, length = rsa.generate_private_key(65537, 2048), ALG.RSA, 2048
    else:
        key, alg, length = ed25519.Ed25519PrivateKey.generate(), ALG.ED25519, 256
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    priv = client.register(pobjects.PrivateKey(alg, length, der, KFT.PKCS_8, masks=[MASK.SIGN]))
    client.activate(priv)
    cert = self_signed_ca(key)
    cert_uid = client.register(pobjects.X509Certificate(
        cert.public_bytes(serialization.Encoding.DER)))
    return priv, cert_uid, cert


@pytest.fixture(scope="module")
def ca(alice):
    return load_ca(alice)


# ---- issuing ------------------------------------------------------------------------


@pytest.mark.parametrize("version", [(1, 2), (1, 4), (2, 0), (2, 1)])
def test_certify_a_pkcs10_request(module_server, alice, ca, version):
    ca_priv, ca_cert_uid, ca_cert = ca
    key = rsa.generate_private_key(65537, 2048)
    csr = csr_for(key)
    r = certify(module_server, csr=csr.public_bytes(serialization.Encoding.DER), priv=ca_priv,
                issuer=ca_cert_uid, extra=[name_item(version, "svc-cert-%d-%d" % version)],
                version=version)
    uid, cert = issued(alice, r)
    assert cert.subject == csr.subject
    assert cert.issuer == ca_cert.subject
    assert spki(cert.public_key()) == spki(key.public_key())
    verify_signed_by(cert, ca_cert.public_key())
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == \
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    days = (cert.not_valid_after - cert.not_valid_before).days
    assert days == 365
    assert cert.version == x509.Version.v3 and cert.serial_number > 0
    # it keeps the issuer's certificate as its parent, not the CA's private key
    assert links(module_server, uid) == [(CERT_LINK, ca_cert_uid)]
    assert alice.locate(attributes=[alice.attribute_factory.create_attribute(
        enums.AttributeType.NAME, "svc-cert-%d-%d" % version)]) == [uid]


def test_certify_a_server_key_pair_links_both_ways(module_server, alice, ca):
    ca_priv, ca_cert_uid, ca_cert = ca
    pub, priv = alice.create_key_pair(ALG.EC, 384, public_name="pair-to-certify")
    r = certify(module_server, uid=pub, priv=ca_priv, issuer=ca_cert_uid)
    uid, cert = issued(alice, r)
    assert cert.subject == x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pair-to-certify")])
    assert spki(cert.public_key()) == alice.get(pub).value  # X.509 SPKI as stored
    verify_signed_by(cert, ca_cert.public_key())
    assert links(module_server, uid) == sorted([(CERT_LINK, ca_cert_uid), (PUB_LINK, pub)])
    assert links(module_server, pub) == sorted([(PRIV_LINK, priv), (CERT_LINK, uid)])


def test_certify_request_matching_a_held_key(module_server, alice, ca):
    """A request for a key keyhold holds, without naming it: linked all the same."""
    ca_priv, ca_cert_uid, _ = ca
    key = ec.generate_private_key(ec.SECP256R1())
    pub = alice.register(pobjects.PublicKey(ALG.EC, 256, spki(key.public_key()), KFT.X_509))
    r = certify(module_server, csr=csr_for(key).public_bytes(serialization.Encoding.PEM),
                req_type=PEM, priv=ca_priv, issuer=ca_cert_uid)
    uid, cert = issued(alice, r)
    assert spki(cert.public_key()) == spki(key.public_key())
    assert (PUB_LINK, pub) in links(module_server, uid)
    assert links(module_server, pub) == [(CERT_LINK, uid)]
    # naming it too is the same; naming another key is refused
    r = certify(module_server, uid=pub, csr=csr_for(key).public_bytes(serialization.Encoding.DER),
                priv=ca_priv, issuer=ca_cert_uid)
    assert r.status == ttlv.STATUS_SUCCESS, r
    other = alice.register(pobjects.PublicKey(
        ALG.EC, 256, spki(ec.generate_private_key(ec.SECP256R1()).public_key()), KFT.X_509))
    r = certify(module_server, uid=other,
                csr=csr_for(key).public_bytes(serialization.Encoding.DER), priv=ca_priv,
                issuer=ca_cert_uid)
    assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, RR.INVALID_FIELD.value), r


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_certify_with_rsa_and_ed25519_issuers(module_server, alice, kind):
    priv, cert_uid, ca_cert = load_ca(alice, kind)
    key = ec.generate_private_key(ec.SECP384R1())
    r = certify(module_server, csr=csr_for(key).public_bytes(serialization.Encoding.DER),
                priv=priv, issuer=cert_uid)
    _, cert = issued(alice, r)
    verify_signed_by(cert, ca_cert.public_key())
    assert cert.issuer == ca_cert.subject


def test_self_issued_and_validity_from_deactivation_date(module_server, alice):
    pub, priv = alice.create_key_pair(ALG.RSA, 2048, public_name="self")
    alice.activate(priv)
    until = int(datetime.datetime.now(datetime.timezone.utc).timestamp()) + 10 * 86400
    r = certify(module_server, uid=pub, priv=priv,
                extra=[ttlv.attribute_v1("Deactivation Date", DT(0, until))])
    uid, cert = issued(alice, r)
    assert cert.subject == cert.issuer
    verify_signed_by(cert, cert.public_key())
    assert int(cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp()) == until


def test_certify_uses_the_id_placeholder(module_server, alice, ca):
    """CreateKeyPair then Certify in one batch: the placeholder is the private
    key there, which is not a public key."""
    ca_priv, ca_cert_uid, _ = ca
    pub, priv = alice.create_key_pair(ALG.EC, 256)
    r = certify(module_server, priv=ca_priv, issuer=ca_cert_uid)  # no uid, no placeholder
    assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, RR.MISSING_DATA.value), r
    r = certify(module_server, uid=priv, priv=ca_priv, issuer=ca_cert_uid)
    assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, RR.INVALID_FIELD.value), r


# ---- refusals -----------------------------------------------------------------------


def test_certify_refusals(module_server, alice, ca):
    ca_priv, ca_cert_uid, _ = ca
    key = rsa.generate_private_key(65537, 2048)
    good = csr_for(key).public_bytes(serialization.Encoding.DER)
    tampered = good[:-1] + bytes([good[-1] ^ 1])  # the signature's last byte

    no_sign = alice.register(pobjects.PrivateKey(ALG.EC, 256, ec.generate_private_key(
        ec.SECP256R1()).private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()), KFT.PKCS_8,
        masks=[MASK.DECRYPT]))
    alice.activate(no_sign)
    inactive = alice.register(pobjects.PrivateKey(ALG.EC, 256, ec.generate_private_key(
        ec.SECP256R1()).private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()), KFT.PKCS_8,
        masks=[MASK.SIGN]))
    other_ca_priv, other_ca_cert, _ = load_ca(alice)
    cases = [
        (dict(csr=tampered, priv=ca_priv, issuer=ca_cert_uid), RR.INVALID_FIELD),
        (dict(csr=b"not a request", priv=ca_priv, issuer=ca_cert_uid), RR.INVALID_FIELD),
        (dict(csr=good, req_type=CRMF, priv=ca_priv, issuer=ca_cert_uid),
         RR.FEATURE_NOT_SUPPORTED),
        (dict(csr=good, req_type=9, priv=ca_priv, issuer=ca_cert_uid), RR.INVALID_FIELD),
        (dict(csr=good, issuer=ca_cert_uid), RR.MISSING_DATA),             # nobody signs
        (dict(csr=good, priv=ca_priv), RR.MISSING_DATA),                  # not self-issued
        (dict(csr=good, priv=no_sign, issuer=ca_cert_uid), RR.PERMISSION_DENIED),
        (dict(csr=good, priv=inactive, issuer=ca_cert_uid), RR.ILLEGAL_OPERATION),
        (dict(csr=good, priv=ca_priv, issuer=other_ca_cert), RR.INVALID_FIELD),  # other key
        (dict(csr=good, priv=ca_priv, issuer=other_ca_priv), RR.INVALID_FIELD),  # not a cert
        (dict(csr=good, priv=ca_cert_uid, issuer=ca_cert_uid), RR.INVALID_FIELD),
        (dict(csr=good, priv="no-such-key", issuer=ca_cert_uid), RR.ITEM_NOT_FOUND),
        (dict(csr=good, priv=ca_priv, issuer=ca_cert_uid, who="bob"), RR.ITEM_NOT_FOUND),
    ]
    for kw, reason in cases:
        r = certify(module_server, **kw)
        assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, reason.value), (kw, r)
    # a type without a value
    r = kh_support.call(module_server.port, Op.CERTIFY, E(Tag.CERTIFICATE_REQUEST_TYPE, PKCS10),
                        S(Tag.TEMPLATE_ATTRIBUTE))
    assert (r.status, r.reason) == (ttlv.STATUS_OPERATION_FAILED, RR.MISSING_DATA.value), r
    kh_support.assert_alive(module_server.port)
