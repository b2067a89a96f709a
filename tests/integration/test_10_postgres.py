"""Several keyhold nodes on one PostgreSQL database (DESIGN: scale out).

Runs when KH_TEST_PG_URL names a PostgreSQL database (scripts/test-all
starts a throwaway cluster and sets it). Each test gets its own schema.
"""
import os
import shutil
import subprocess
import threading
import uuid

import pytest

import kh_support
from kmip.core import enums
from kmip.core.factories.attributes import AttributeFactory
from kmip.pie import exceptions

PG = os.environ.get("KH_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG, reason="KH_TEST_PG_URL is not set")


@pytest.fixture
def pg_url():
    schema = "it_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", PG, "-q", "-c", f"CREATE SCHEMA {schema}"], check=True,
                   capture_output=True)
    yield PG + ("&" if "?" in PG else "?") + "options=-csearch_path%3D" + schema
    subprocess.run(["psql", PG, "-q", "-c", f"DROP SCHEMA {schema} CASCADE"],
                   capture_output=True)


def node(workdir, certs, url, master_key=None):
    srv = kh_support.KeyholdServer(workdir, certs, db_url=url)
    if master_key:
        srv.workdir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(master_key, srv.master_key)
        os.chmod(srv.master_key, 0o600)
    srv.start()
    return srv


@pytest.fixture
def two_nodes(tmp_path, certs, pg_url):
    a = node(tmp_path / "a", certs, pg_url)
    b = None
    try:
        b = node(tmp_path / "b", certs, pg_url, master_key=a.master_key)
        yield a, b
    finally:
        for srv in (b, a):
            if srv is not None and srv.proc is not None:
                try:
                    srv.stop()
                finally:
                    srv.kill()


def test_object_created_on_one_node_is_served_by_the_other(two_nodes, client):
    a, b = two_nodes
    ca, cb = client(a), client(b)
    uid = ca.create(enums.CryptographicAlgorithm.AES, 256, name="shared-key")
    assert cb.get(uid).value == ca.get(uid).value
    name = AttributeFactory().create_attribute(enums.AttributeType.NAME, "shared-key")
    assert cb.locate(attributes=[name]) == [uid]
    cb.activate(uid)
    cb.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid)
    cb.destroy(uid)
    _, attrs = ca.get_attributes(uid, ["State"])
    assert attrs[0].attribute_value.value == enums.State.DESTROYED_COMPROMISED
    with pytest.raises(exceptions.KmipOperationFailure) as e:
        ca.get(uid)
    assert e.value.status == enums.ResultStatus.OPERATION_FAILED


def test_concurrent_creates_on_both_nodes(two_nodes, client, pg_url):
    a, b = two_nodes
    made, errors = [], []

    def work(srv):
        try:
            c = kh_support.make_client(srv.port)
            with c:
                for _ in range(15):
                    made.append(c.create(enums.CryptographicAlgorithm.AES, 128))
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(srv,)) for srv in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(made) == 60 and len(set(made)) == 60
    for srv in (a, b):
        found = set(client(srv).locate())
        assert set(made) <= found
    # each Create's row went with its object (one batch per node, shared
    # commits): one row each, one chain across both nodes
    rows = subprocess.run(["psql", pg_url, "-tAc", "SELECT object_uid FROM audit"
                           " WHERE operation = 'Create' AND result = 'KH_OK'"],
                          check=True, capture_output=True, text=True).stdout.split()
    assert sorted(rows) == sorted(made)
    r = subprocess.run([str(kh_support.keyhold_bin()), "audit", "verify", "--db", pg_url],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("OK: "), r.stdout + r.stderr


def test_node_with_another_master_key_refuses_to_start(tmp_path, certs, pg_url, client):
    a = node(tmp_path / "a", certs, pg_url)
    try:
        client(a).create(enums.CryptographicAlgorithm.AES, 256)  # realm key now exists
        intruder = kh_support.KeyholdServer(tmp_path / "c", certs, db_url=pg_url)
        with pytest.raises(Exception):
            intruder.start(timeout=5)
        intruder.kill()
        assert "does not open" in intruder.log()
    finally:
        a.stop()


def test_kes_create_race_across_nodes(two_nodes, tmp_path):
    """Two nodes, one database, many concurrent creates of one KES name: one
    wins, every other answers 'key already exists', and one live key is
    left, the one both nodes then use."""
    import base64
    import json
    from test_19_kes_listener import Client, apikey_certificate, new_api_key
    a, b = two_nodes
    admin = Client(kh_support.CERTS, *apikey_certificate(tmp_path, new_api_key(), "admin"))
    for srv in (a, b):  # the KES admin on both nodes
        srv.extra_args = ["--kes-admin-identity", admin.identity]
        srv.restart()
    results = []
    lock = threading.Lock()

    def create(srv):
        r = admin.request(srv.kes_port, "PUT", "/v1/key/create/raced")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=create, args=(srv,)) for srv in (a, b) * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count((200, None)) == 1, results
    assert results.count((400, {"message": "key already exists"})) == len(threads) - 1, results
    status, gen = admin.request(a.kes_port, "PUT", "/v1/key/generate/raced", {})
    assert status == 200
    assert admin.request(b.kes_port, "PUT", "/v1/key/decrypt/raced",
                         {"ciphertext": gen["ciphertext"]}) == (200, {"plaintext": gen["plaintext"]})
    assert admin.request(a.kes_port, "GET", "/v1/key/list/raced") == (
        200, {"names": ["raced"], "continue_at": ""})
    assert base64.b64decode(gen["plaintext"]) and json.dumps(gen)


def test_kes_key_deleted_on_one_node_is_gone_on_the_other(two_nodes, tmp_path):
    """A node remembers which key a KES name resolved to (ops/kes_keycache.h);
    a delete on another node must still be seen by its very next request,
    and a key made again under the name must be the one used."""
    from test_19_kes_listener import Client, apikey_certificate, new_api_key
    a, b = two_nodes
    admin = Client(kh_support.CERTS, *apikey_certificate(tmp_path, new_api_key(), "admin"))
    for srv in (a, b):
        srv.extra_args = ["--kes-admin-identity", admin.identity]
        srv.restart()
    assert admin.request(a.kes_port, "PUT", "/v1/key/create/cached") == (200, None)
    for _ in range(3):  # a's answer for the name is remembered now
        status, gen = admin.request(a.kes_port, "PUT", "/v1/key/generate/cached", {})
        assert status == 200
    assert admin.request(b.kes_port, "DELETE", "/v1/key/delete/cached") == (200, None)
    not_found = (404, {"message": "key does not exist"})
    assert admin.request(a.kes_port, "PUT", "/v1/key/generate/cached", {}) == not_found
    assert admin.request(a.kes_port, "PUT", "/v1/key/decrypt/cached",
                         {"ciphertext": gen["ciphertext"]}) == not_found
    assert admin.request(b.kes_port, "PUT", "/v1/key/create/cached") == (200, None)
    status, gen2 = admin.request(a.kes_port, "PUT", "/v1/key/generate/cached", {})
    assert status == 200
    assert admin.request(a.kes_port, "PUT", "/v1/key/decrypt/cached",
                         {"ciphertext": gen2["ciphertext"]}) == (200, {"plaintext":
                                                                       gen2["plaintext"]})
    assert admin.request(a.kes_port, "PUT", "/v1/key/decrypt/cached",
                         {"ciphertext": gen["ciphertext"]}) == (
        400, {"message": "decryption failed: ciphertext is not authentic"})
