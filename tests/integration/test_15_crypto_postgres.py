"""
Key pairs, certificates and the other object types on the PostgreSQL store:
CreateKeyPair and ReKeyKeyPair write both halves in one transaction there
too, certificate links and Locate by type behave as on SQLite.

Runs when KH_TEST_PG_URL names a PostgreSQL database; each test gets its
own schema.
"""
import datetime
import os
import subprocess
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kmip.core import enums
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import objects as pobjects

import kh_support
from kh_ttlv import T

PG = os.environ.get("KH_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG, reason="KH_TEST_PG_URL is not set")

ALG = enums.CryptographicAlgorithm
OT = enums.ObjectType
LINK = enums.LinkType
af = AttributeFactory()


class Tag:
    ATTRIBUTE = 0x420008
    ATTRIBUTE_NAME = 0x42000A
    ATTRIBUTE_VALUE = 0x42000B
    LINK_TYPE = 0x42004B
    LINKED_OBJECT_IDENTIFIER = 0x42004C
    PRIVATE_KEY_UID = 0x420066
    PUBLIC_KEY_UID = 0x42006F
    UNIQUE_IDENTIFIER = 0x420094


class Op:
    GET_ATTRIBUTES = 0x0B
    REKEY_KEY_PAIR = 0x1D


@pytest.fixture
def pg_server(tmp_path, certs):
    schema = "it_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", PG, "-q", "-c", f"CREATE SCHEMA {schema}"], check=True,
                   capture_output=True)
    url = PG + ("&" if "?" in PG else "?") + "options=-csearch_path%3D" + schema
    srv = kh_support.KeyholdServer(tmp_path / "pg-node", certs, db_url=url)
    try:
        srv.start()
        yield srv
    finally:
        if srv.proc is not None:
            try:
                srv.stop()
            finally:
                srv.kill()
        subprocess.run(["psql", PG, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"],
                       capture_output=True)


def links(server, uid):
    r = kh_support.call(server.port, Op.GET_ATTRIBUTES, T(Tag.UNIQUE_IDENTIFIER, uid),
                        T(Tag.ATTRIBUTE_NAME, "Link"))
    assert r.status == 0, r
    return sorted((a.find(Tag.ATTRIBUTE_VALUE).get(Tag.LINK_TYPE),
                   a.find(Tag.ATTRIBUTE_VALUE).get(Tag.LINKED_OBJECT_IDENTIFIER))
                  for a in r.payload.find_all(Tag.ATTRIBUTE))


def test_key_pairs_certificates_and_rekey_on_postgres(pg_server, client):
    c = client(pg_server)
    pub, priv = c.create_key_pair(ALG.EC, 256, public_name="pg-pub")
    assert links(pg_server, pub) == [(LINK.PRIVATE_KEY_LINK.value, priv)]
    assert links(pg_server, priv) == [(LINK.PUBLIC_KEY_LINK.value, pub)]
    c.activate(priv)
    public = serialization.load_der_public_key(c.get(pub).value)
    public.verify(c.sign(b"on postgres", uid=priv), b"on postgres", ec.ECDSA(hashes.SHA256()))

    issuer = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pg")])
    der = (x509.CertificateBuilder().subject_name(cn).issuer_name(cn).public_key(public)
           .serial_number(x509.random_serial_number()).not_valid_before(now)
           .not_valid_after(now + datetime.timedelta(days=1)).sign(issuer, hashes.SHA256())
           .public_bytes(serialization.Encoding.DER))
    cert = c.register(pobjects.X509Certificate(der))
    assert links(pg_server, cert) == [(LINK.PUBLIC_KEY_LINK.value, pub)]
    assert (LINK.CERTIFICATE_LINK.value, cert) in links(pg_server, pub)

    r = kh_support.call(pg_server.port, Op.REKEY_KEY_PAIR, T(Tag.PRIVATE_KEY_UID, priv))
    assert r.status == 0, r
    npriv, npub = r.payload.get(Tag.PRIVATE_KEY_UID), r.payload.get(Tag.PUBLIC_KEY_UID)
    assert (LINK.PUBLIC_KEY_LINK.value, npub) in links(pg_server, npriv)
    assert (LINK.PRIVATE_KEY_LINK.value, npriv) in links(pg_server, npub)
    assert (LINK.REPLACEMENT_OBJECT_LINK.value, npriv) in links(pg_server, priv)
    name = af.create_attribute(enums.AttributeType.NAME, "pg-pub")
    assert c.locate(attributes=[name]) == [npub, pub]  # newest first


def test_every_object_type_on_postgres(pg_server, client):
    c = client(pg_server)
    made = {
        OT.SYMMETRIC_KEY: c.create(ALG.AES, 128),
        OT.SECRET_DATA: c.register(pobjects.SecretData(b"seed", enums.SecretDataType.SEED)),
        OT.OPAQUE_DATA: c.register(pobjects.OpaqueObject(b"blob", enums.OpaqueDataType.NONE)),
        OT.SPLIT_KEY: c.register(pobjects.SplitKey(
            cryptographic_algorithm=ALG.AES, cryptographic_length=128,
            key_value=os.urandom(16), split_key_parts=2, key_part_identifier=1,
            split_key_threshold=2, split_key_method=enums.SplitKeyMethod.XOR)),
    }
    made[OT.PUBLIC_KEY], made[OT.PRIVATE_KEY] = c.create_key_pair(ALG.ED25519, 256)
    for t, uid in made.items():
        assert c.locate(attributes=[af.create_attribute(enums.AttributeType.OBJECT_TYPE, t)]) \
            == [uid], t
    sk = c.get(made[OT.SPLIT_KEY])
    assert (sk.split_key_parts, sk.key_part_identifier, sk.split_key_threshold) == (2, 1, 2)
    assert c.get(made[OT.SECRET_DATA]).data_type == enums.SecretDataType.SEED
