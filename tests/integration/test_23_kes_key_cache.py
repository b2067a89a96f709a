"""The KES listener remembers which key a name resolved to
(ops/kes_keycache.h): a key deleted must answer 'key does not exist' on the
very next request, and a key made again under the same name must be the
one used, never the old one."""
import pytest

import kh_support
from test_19_kes_listener import Client, apikey_certificate, new_api_key

NOT_FOUND = (404, {"message": "key does not exist"})
NOT_AUTHENTIC = (400, {"message": "decryption failed: ciphertext is not authentic"})


@pytest.fixture(scope="module")
def admin(certs, tmp_path_factory):
    d = tmp_path_factory.mktemp("kes-cache-admin")
    return Client(certs, *apikey_certificate(d, new_api_key(), "admin"))


@pytest.fixture(scope="module")
def port(certs, admin, tmp_path_factory):
    srv = kh_support.KeyholdServer(tmp_path_factory.mktemp("kes-cache"), certs,
                                   extra_args=["--kes-admin-identity", admin.identity])
    srv.start()
    yield srv.kes_port
    srv.stop()


def generate(admin, port, name):
    status, body = admin.request(port, "PUT", "/v1/key/generate/" + name, {})
    assert status == 200, body
    return body


def decrypt(admin, port, name, gen):
    return admin.request(port, "PUT", "/v1/key/decrypt/" + name,
                         {"ciphertext": gen["ciphertext"]})


def test_delete_then_use_is_not_found_at_once(admin, port):
    assert admin.request(port, "PUT", "/v1/key/create/gone") == (200, None)
    for _ in range(3):
        gen = generate(admin, port, "gone")
    assert decrypt(admin, port, "gone", gen) == (200, {"plaintext": gen["plaintext"]})
    assert admin.request(port, "DELETE", "/v1/key/delete/gone") == (200, None)
    assert admin.request(port, "PUT", "/v1/key/generate/gone", {}) == NOT_FOUND
    assert decrypt(admin, port, "gone", gen) == NOT_FOUND
    assert admin.request(port, "GET", "/v1/key/describe/gone") == NOT_FOUND
    assert admin.request(port, "DELETE", "/v1/key/delete/gone") == NOT_FOUND


def test_recreated_name_uses_the_new_key(admin, port):
    assert admin.request(port, "PUT", "/v1/key/create/again") == (200, None)
    old = generate(admin, port, "again")
    assert decrypt(admin, port, "again", old) == (200, {"plaintext": old["plaintext"]})
    assert admin.request(port, "DELETE", "/v1/key/delete/again") == (200, None)
    assert admin.request(port, "PUT", "/v1/key/create/again") == (200, None)
    new = generate(admin, port, "again")
    assert decrypt(admin, port, "again", new) == (200, {"plaintext": new["plaintext"]})
    assert decrypt(admin, port, "again", old) == NOT_AUTHENTIC
    # and once more with the new key's answer remembered
    assert decrypt(admin, port, "again", old) == NOT_AUTHENTIC
    assert admin.request(port, "PUT", "/v1/key/create/again") == (
        400, {"message": "key already exists"})


def test_import_under_a_deleted_name(admin, port):
    import base64
    assert admin.request(port, "PUT", "/v1/key/create/imp") == (200, None)
    old = generate(admin, port, "imp")
    assert admin.request(port, "DELETE", "/v1/key/delete/imp") == (200, None)
    key = base64.b64encode(bytes(range(32))).decode()
    assert admin.request(port, "PUT", "/v1/key/import/imp",
                         {"key": key, "cipher": "ChaCha20"}) == (200, None)
    assert decrypt(admin, port, "imp", old) == NOT_AUTHENTIC
    new = generate(admin, port, "imp")
    assert decrypt(admin, port, "imp", new) == (200, {"plaintext": new["plaintext"]})
