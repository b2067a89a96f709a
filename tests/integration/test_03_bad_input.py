"""
Hostile and broken input: malformed TTLV, absurd lengths and nesting,
garbage, plain text instead of TLS, refused certificates, stalled clients,
and many clients at once.

Each case uses its own connection, and afterwards the server must still
answer a normal Query on a new connection. A reply, where one is expected,
is decoded with the strict kh_ttlv decoder: the server must answer bad input
with a well-formed ResponseMessage (ResultStatus OperationFailed, ResultReason
InvalidMessage), or close the connection, and never crash or hang.
"""
import random
import socket
import ssl
import threading
import time

import pytest
from kmip.core import enums

import kh_support
import kh_ttlv as ttlv
from kh_support import scaled
from kh_ttlv import Op, Tag

TIMEOUT = 10  # seconds before a silent server counts as hung (scaled for ASan)


class Hung(AssertionError):
    pass


def reply_or_close(sock, timeout=TIMEOUT):
    """One whole reply (bytes), or None if the server closed the connection.

    A server that neither answers nor closes within timeout fails the test.
    """
    sock.settimeout(scaled(timeout))
    try:
        return kh_support.read_message(sock)
    except (kh_support.Closed, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError,
            ssl.SSLZeroReturnError):
        return None
    except ssl.SSLError as e:  # e.g. an alert, or "unexpected eof while reading"
        if "timed out" in str(e):
            raise Hung("no reply and no close within %ss" % scaled(timeout))
        return None
    except socket.timeout:
        raise Hung("no reply and no close within %ss" % scaled(timeout))


def send_quietly(sock, data):
    """sendall that tolerates the server closing first (it may refuse early)."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass


def assert_invalid_message(data):
    assert data is not None, "the server closed the connection instead of answering"
    r = ttlv.parse_response(data)  # ResponseMessage -> BatchItem -> status, reason
    assert r.items, r
    assert r.batch_count == len(r.items), r
    assert r.items[0].status == ttlv.STATUS_OPERATION_FAILED, r
    assert r.items[0].reason == ttlv.REASON_INVALID_MESSAGE, r
    return r


def send_bad(server, data, who="alice"):
    """data on a fresh TLS connection; returns the reply or None (closed)."""
    with kh_support.tls_connect(server.port, who) as s:
        send_quietly(s, data)
        return reply_or_close(s)


@pytest.fixture
def alive_after(module_server):
    """The server under test, checked to answer a Query after the test."""
    yield module_server
    assert module_server.alive(), "keyhold is gone"
    kh_support.assert_alive(module_server.port)


def h(tag, type_, length):
    return ttlv.header(tag, type_, length)


def good_header(batch_count=1, version=(1, 2)):
    return ttlv.S(Tag.REQUEST_HEADER, ttlv.protocol_version(*version),
                  ttlv.I(Tag.BATCH_COUNT, batch_count))


def query_item():
    return ttlv.batch_item(Op.QUERY, ttlv.E(Tag.QUERY_FUNCTION, ttlv.QUERY_OPERATIONS))


def message(*kids):
    return ttlv.encode(ttlv.S(Tag.REQUEST_MESSAGE, *kids))


# ---- framing and structure ------------------------------------------------------------


def test_truncated_message_then_close(alive_after):
    q = ttlv.query_request()
    for cut in (8, 12, 40, len(q) - 1):
        with kh_support.tls_connect(alive_after.port) as s:
            s.sendall(q[:cut])
        kh_support.assert_alive(alive_after.port)
    # A header claiming more than is ever sent.
    with kh_support.tls_connect(alive_after.port) as s:
        s.sendall(h(Tag.REQUEST_MESSAGE, ttlv.STRUCTURE, 4096) + q[8:])


def _outer_length_not_multiple_of_8():
    q = ttlv.query_request()
    return h(Tag.REQUEST_MESSAGE, ttlv.STRUCTURE, len(q) - 8 - 4) + q[8:-4]


def _child_overruns_parent():
    hdr = ttlv.encode(good_header())
    bad = h(Tag.REQUEST_HEADER, ttlv.STRUCTURE, len(hdr) - 8 + 64) + hdr[8:]
    return message(ttlv.Raw(bad), query_item())


def _trailing_bytes_inside_structure():
    return message(good_header(), query_item(), ttlv.Raw(bytes(8)))


def _integer_with_length_8():
    pv = ttlv.encode(ttlv.protocol_version(1, 2))
    bc = h(Tag.BATCH_COUNT, ttlv.INTEGER, 8) + (1).to_bytes(8, "big")
    hdr = h(Tag.REQUEST_HEADER, ttlv.STRUCTURE, len(pv) + len(bc)) + pv + bc
    return message(ttlv.Raw(hdr), query_item())


def _nonzero_padding():
    pv = ttlv.encode(ttlv.protocol_version(1, 2))
    bc = h(Tag.BATCH_COUNT, ttlv.INTEGER, 4) + b"\0\0\0\1\xff\xff\xff\xff"
    hdr = h(Tag.REQUEST_HEADER, ttlv.STRUCTURE, len(pv) + len(bc)) + pv + bc
    return message(ttlv.Raw(hdr), query_item())


def _text_length_beyond_item():
    uid = h(Tag.UNIQUE_IDENTIFIER, ttlv.TEXT_STRING, 1000) + b"abcdefgh"
    item = ttlv.S(Tag.BATCH_ITEM, ttlv.E(Tag.OPERATION, Op.GET),
                  ttlv.S(Tag.REQUEST_PAYLOAD, ttlv.Raw(uid)))
    return message(good_header(), item)


def _unknown_item_type():
    return message(good_header(), query_item(), ttlv.Raw(h(0x420001, 0x0B, 0)))


def _batch_count_too_high():
    return message(good_header(batch_count=2), query_item())


def _batch_count_zero():
    return message(good_header(batch_count=0), query_item())


def _no_request_header():
    return message(query_item())


def _no_batch_item():
    return message(good_header())


def _response_message_as_request():
    return ttlv.encode(ttlv.S(Tag.RESPONSE_MESSAGE, good_header(), query_item()))


def _protocol_version_not_a_structure():
    hdr = ttlv.S(Tag.REQUEST_HEADER, ttlv.I(Tag.PROTOCOL_VERSION, 1), ttlv.I(Tag.BATCH_COUNT, 1))
    return message(hdr, query_item())


def _operation_is_a_text_string():
    item = ttlv.S(Tag.BATCH_ITEM, ttlv.T(Tag.OPERATION, "Query"), ttlv.S(Tag.REQUEST_PAYLOAD))
    return message(good_header(), item)


MALFORMED = [_outer_length_not_multiple_of_8, _child_overruns_parent,
             _trailing_bytes_inside_structure, _integer_with_length_8, _nonzero_padding,
             _text_length_beyond_item, _unknown_item_type, _batch_count_too_high,
             _batch_count_zero, _no_request_header, _no_batch_item, _response_message_as_request,
             _protocol_version_not_a_structure, _operation_is_a_text_string]


@pytest.mark.parametrize("build", MALFORMED, ids=lambda f: f.__name__.strip("_"))
def test_malformed_message_gets_invalid_message(alive_after, build):
    assert_invalid_message(send_bad(alive_after, build()))


@pytest.mark.parametrize("where", ["header", "batch-item", "payload"])
def test_unknown_tag(alive_after, where):
    unknown = ttlv.I(0x42FFF0, 7)  # not a KMIP tag
    hdr, item = good_header(), query_item()
    if where == "header":
        hdr.value.insert(1, unknown)
    elif where == "batch-item":
        item.value.insert(1, unknown)
    else:
        item.find(Tag.REQUEST_PAYLOAD).value.append(unknown)
    data = send_bad(alive_after, message(hdr, item))
    assert data is not None, "the server closed the connection instead of answering"
    r = ttlv.parse_response(data)
    assert r.items and r.items[0].status == ttlv.STATUS_OPERATION_FAILED, (
        "unknown tag 0x42FFF0 in the %s was accepted: %r" % (where, r))


def test_deep_nesting(alive_after):
    inner = b""
    for _ in range(10000):
        inner = h(0x420079, ttlv.STRUCTURE, len(inner)) + inner
    item = ttlv.S(Tag.BATCH_ITEM, ttlv.E(Tag.OPERATION, Op.QUERY), ttlv.Raw(inner))
    assert_invalid_message(send_bad(alive_after, message(good_header(), item)))


def test_too_many_items(alive_after):
    # 120,000 empty structures: over any sane item budget, under the 1 MiB size limit.
    many = h(0x42FFF1, ttlv.STRUCTURE, 0) * 120000
    item = ttlv.S(Tag.BATCH_ITEM, ttlv.E(Tag.OPERATION, Op.QUERY),
                  ttlv.Raw(h(Tag.REQUEST_PAYLOAD, ttlv.STRUCTURE, len(many)) + many))
    data = send_bad(alive_after, message(good_header(), item))
    assert data is not None, "the server closed the connection instead of answering"
    r = ttlv.parse_response(data)
    assert r.items and r.items[0].status == ttlv.STATUS_OPERATION_FAILED, r


@pytest.mark.parametrize("length", [100 * 1024 * 1024, 0xFFFFFFF8, 2 * 1024 * 1024])
def test_huge_length_header(alive_after, length):
    with kh_support.tls_connect(alive_after.port) as s:
        send_quietly(s, h(Tag.REQUEST_MESSAGE, ttlv.STRUCTURE, length) + bytes(64))
        data = reply_or_close(s)
    if data is not None:
        r = ttlv.parse_response(data)
        assert r.items and r.items[0].status == ttlv.STATUS_OPERATION_FAILED, r


@pytest.mark.parametrize("seed", range(6))
def test_random_garbage_after_handshake(alive_after, seed):
    rnd = random.Random(seed)
    if seed % 2:
        # A plausible header, then random bytes for its whole length.
        body = rnd.randbytes(8 * rnd.randint(1, 64))
        data = h(Tag.REQUEST_MESSAGE, ttlv.STRUCTURE, len(body)) + body
    else:
        data = rnd.randbytes(rnd.randint(1, 2000))
    reply = send_bad(alive_after, data)
    if reply is not None:
        r = ttlv.parse_response(reply)
        assert r.items and r.items[0].status == ttlv.STATUS_OPERATION_FAILED, r


# ---- TLS ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
                                  b"\x00" * 600, ttlv.query_request()],
                         ids=["http", "zeros", "kmip-in-the-clear"])
def test_plaintext_instead_of_tls(alive_after, data):
    with socket.create_connection(("127.0.0.1", alive_after.port), timeout=scaled(TIMEOUT)) as s:
        send_quietly(s, data)
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
                assert len(got) < 65536
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise Hung("plain-text client neither refused nor closed within %ss"
                       % scaled(TIMEOUT))
    # At most a TLS alert, never a KMIP reply.
    assert not got.startswith(b"\x42\x00\x7b"), got[:32]
    if got:
        assert got[0] == 0x15, "expected a TLS alert record, got %r" % got[:16]


def assert_refused(port, who):
    """The TLS handshake (or the first read after it, in TLS 1.3) must fail."""
    try:
        s = kh_support.tls_connect(port, who)
    except (ssl.SSLError, ConnectionError, OSError):
        return
    with s:
        send_quietly(s, ttlv.query_request())
        try:
            s.settimeout(scaled(TIMEOUT))
            data = s.recv(8)
        except socket.timeout:
            raise Hung("refused client was neither refused nor answered")
        except (ssl.SSLError, ConnectionError, OSError):
            return
        assert data == b"", "the server answered a client it must refuse: %r" % data


@pytest.mark.parametrize("who", ["mallory", "carol", None],
                         ids=["other-ca", "expired", "no-certificate"])
def test_bad_client_certificate_refused(alive_after, who):
    assert_refused(alive_after.port, who)


def test_tls_1_1_refused(alive_after):
    ctx = kh_support.CERTS.context("alice")
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with socket.create_connection(("127.0.0.1", alive_after.port), timeout=scaled(TIMEOUT)) as raw:
        try:
            s = ctx.wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, ConnectionError, OSError):
            return
        s.close()
        pytest.fail("the server accepted a TLS 1.1 handshake")


# ---- slow and many clients -------------------------------------------------------------


def test_stalled_clients_do_not_block_others(alive_after):
    q = ttlv.query_request()
    stalled = []
    idle = []
    try:
        for _ in range(8):  # more than the 4 workers
            s = kh_support.tls_connect(alive_after.port)
            s.sendall(q[:len(q) // 2])
            stalled.append(s)
        for _ in range(4):  # TCP connections that never start TLS
            idle.append(socket.create_connection(("127.0.0.1", alive_after.port)))
        t0 = time.monotonic()
        for _ in range(3):
            kh_support.assert_alive(alive_after.port, "bob")
        assert time.monotonic() - t0 < scaled(5)
        # The stalled message, once finished, is answered normally.
        s = stalled[0]
        s.sendall(q[len(q) // 2:])
        s.settimeout(scaled(TIMEOUT))
        r = ttlv.parse_response(kh_support.read_message(s))
        assert r.items[0].status == ttlv.STATUS_SUCCESS, r
    finally:
        for s in stalled + idle:
            s.close()


def test_connection_churn(alive_after):
    for i in range(40):
        s = kh_support.tls_connect(alive_after.port)
        if i % 2:
            s.sendall(ttlv.query_request())
        s.close()
    kh_support.assert_alive(alive_after.port)


def test_concurrent_clients(server, client):
    n_clients, rounds = 10, 5
    errors = []
    made = {"alice": [], "bob": []}
    lock = threading.Lock()
    barrier = threading.Barrier(n_clients)

    def worker(i):
        who = ("alice", "bob")[i % 2]
        c = kh_support.make_client(server.port, who)
        try:
            c.open()
            barrier.wait(timeout=scaled(30))
            for r in range(rounds):
                bits = (128, 192, 256)[(i + r) % 3]
                uid = c.create(enums.CryptographicAlgorithm.AES, bits, name="cc-%d-%d" % (i, r))
                key = c.get(uid)
                assert len(key.value) == bits // 8, (uid, bits, len(key.value))
                assert c.locate(attributes=[kh_support_name("cc-%d-%d" % (i, r))]) == [uid]
                with lock:
                    made[who].append(uid)
        except BaseException as e:  # collected and reported by the main thread
            with lock:
                errors.append("client %d (%s): %r" % (i, who, e))
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=scaled(60))
    assert not any(t.is_alive() for t in threads), "clients still running: server hung?"
    assert not errors, "\n".join(errors)
    for who in ("alice", "bob"):
        assert len(made[who]) == n_clients // 2 * rounds
        assert sorted(client(server, who).locate()) == sorted(made[who])


def kh_support_name(value):
    from kmip.core.factories.attributes import AttributeFactory
    return AttributeFactory().create_attribute(enums.AttributeType.NAME, value)


def test_concurrent_activate_exactly_one_wins(server, client):
    uids = [client(server).create(enums.CryptographicAlgorithm.AES, 128) for _ in range(3)]
    results = {u: [] for u in uids}
    lock = threading.Lock()

    def worker(uid):
        c = kh_support.make_client(server.port, "alice")
        c.open()
        try:
            c.activate(uid)
            outcome = "ok"
        except Exception as e:
            outcome = getattr(e, "reason", repr(e))
        finally:
            c.close()
        with lock:
            results[uid].append(outcome)

    threads = [threading.Thread(target=worker, args=(u,)) for u in uids for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=scaled(60))
    R = enums.ResultReason
    for uid, outcomes in results.items():
        assert outcomes.count("ok") == 1, (uid, outcomes)
        # Losers are told the state is wrong; "General Failure: concurrent update,
        # retry" is keyhold's optimistic-locking answer and acceptable, nothing else.
        for o in outcomes:
            assert o == "ok" or o in (R.ILLEGAL_OPERATION, R.PERMISSION_DENIED,
                                      R.WRONG_KEY_LIFECYCLE_STATE, R.GENERAL_FAILURE), outcomes


def test_concurrent_attribute_adds_lose_nothing(server, client):
    uid = client(server).create(enums.CryptographicAlgorithm.AES, 128)
    ok = []
    failed = []
    lock = threading.Lock()

    def worker(i):
        r = kh_support.call(server.port, Op.ADD_ATTRIBUTE, ttlv.T(Tag.UNIQUE_IDENTIFIER, uid),
                            ttlv.attribute_v1("x-tag", ttlv.T(0, "tag-%d" % i)))
        with lock:
            (ok if r.status == ttlv.STATUS_SUCCESS else failed).append((i, r))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=scaled(60))
    for _, r in failed:  # only "concurrent update, retry" is an acceptable failure
        assert r.reason == enums.ResultReason.GENERAL_FAILURE.value, r
    _, attrs = client(server).get_attributes(uid, ["x-tag"])
    present = sorted(a.attribute_value.value for a in attrs)
    assert present == sorted("tag-%d" % i for i, _ in ok), (present, ok, failed)
    # An absent Attribute Index means 0 (KMIP 1.x 2.1.1).
    indexes = sorted(getattr(r.payload.find(Tag.ATTRIBUTE).find(Tag.ATTRIBUTE_INDEX), "value", 0)
                     for _, r in ok)
    assert len(set(indexes)) == len(indexes), indexes


def test_sigterm_with_clients_connected(server, client):
    """Shutdown must not wait for idle, stalled or busy clients, and must exit 0."""
    q = ttlv.query_request()
    idle = kh_support.tls_connect(server.port)
    stalled = kh_support.tls_connect(server.port)
    stalled.sendall(q[:20])
    plain = socket.create_connection(("127.0.0.1", server.port))
    stop = threading.Event()
    errors = []

    def busy():
        try:
            c = kh_support.make_client(server.port, "bob")
            c.open()
            while not stop.is_set():
                c.get(c.create(enums.CryptographicAlgorithm.AES, 128))
        except Exception:
            pass  # the server going away mid-loop is expected here
        except BaseException as e:
            errors.append(e)

    workers = [threading.Thread(target=busy) for _ in range(3)]
    for t in workers:
        t.start()
    time.sleep(0.3)
    try:
        t0 = time.monotonic()
        server.stop(timeout=10)  # raises unless exit status 0 and clean output
        assert time.monotonic() - t0 < scaled(10)
    finally:
        stop.set()
        for t in workers:
            t.join(timeout=scaled(30))
        for s in (idle, stalled, plain):
            s.close()
    assert not errors
    server.start()
    kh_support.assert_alive(server.port)
