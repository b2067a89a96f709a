"""
Fixtures for the keyhold integration suite.

  certs          session: a throwaway EC P-256 PKI (ca, server, alice, bob,
                 and mallory from another CA)
  server         function: keyhold on a fresh SQLite file in tmp_path,
                 .port .restart() .stop() .db_path; stopped with SIGTERM at
                 teardown, which must exit 0 with sanitizer-clean output
  module_server  the same, shared by the tests of one module (cheaper)
  client         factory: client(server, who='alice', version=None) -> an
                 opened ProxyKmipClient, closed at teardown
  raw_request    raw_request(port, who, bytes) -> one whole response

Run: KEYHOLD_BIN=build/release/keyhold python3 -m pytest tests/integration
"""
import pytest

import kh_support


def pytest_configure(config):
    # PyKMIP 0.10 uses ssl.wrap_socket and PROTOCOL_SSLv23, both deprecated in 3.11.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning")


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    c = kh_support.Certs(tmp_path_factory.mktemp("pki"))
    kh_support.CERTS = c
    return c


def _serve(workdir, certs):
    srv = kh_support.KeyholdServer(workdir, certs)
    try:
        srv.start()
    except BaseException:
        srv.kill()
        raise
    try:
        yield srv
    finally:
        if srv.proc is None:
            pass  # stopped by the test (and checked then)
        elif not srv.alive():
            srv.stop()  # raises: it died on its own
        else:
            try:
                srv.stop()
            finally:
                srv.kill()


@pytest.fixture
def server(tmp_path, certs):
    yield from _serve(tmp_path / "server", certs)


@pytest.fixture(scope="module")
def module_server(tmp_path_factory, certs):
    yield from _serve(tmp_path_factory.mktemp("module-server"), certs)


@pytest.fixture
def client(certs):
    opened = []

    def factory(server, who="alice", version=None):
        port = server if isinstance(server, int) else server.port
        c = kh_support.make_client(port, who, version, certs)
        c.open()
        opened.append(c)
        return c

    yield factory
    for c in opened:
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def raw_request(certs):
    return kh_support.raw_request


def _module_client(server, certs, who):
    c = kh_support.make_client(server.port, who, None, certs)
    c.open()
    return c


@pytest.fixture(scope="module")
def alice(module_server, certs):
    """A PyKMIP client as alice on the module's server, for a whole module."""
    c = _module_client(module_server, certs, "alice")
    yield c
    c.close()


@pytest.fixture(scope="module")
def bob(module_server, certs):
    c = _module_client(module_server, certs, "bob")
    yield c
    c.close()
