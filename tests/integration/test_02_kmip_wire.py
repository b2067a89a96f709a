"""
The KMIP envelope on the wire: batches, the ID placeholder, error
continuation, protocol versions (including 2.1, which PyKMIP 0.10 does not
know), unknown operations and several requests on one connection.

Requests are built with PyKMIP's own encoders where PyKMIP can express them
and with kh_ttlv otherwise; every reply is also decoded with the strict
kh_ttlv decoder, so a malformed reply fails even where PyKMIP would cope.
"""
import time

import pytest
from kmip.core import enums, utils
from kmip.core import objects as cobjects
from kmip.core.factories.attributes import AttributeFactory
from kmip.core.messages import contents, messages, payloads

import kh_support
import kh_ttlv as ttlv
from kh_ttlv import Op, Tag

af = AttributeFactory()
RS = enums.ResultStatus
RR = enums.ResultReason


def kmip_version(major, minor):
    return contents.protocol_version_to_kmip_version(contents.ProtocolVersion(major, minor))


def encode_request(version, items, continuation=None):
    kv = kmip_version(*version)
    hdr = messages.RequestHeader(
        protocol_version=contents.ProtocolVersion(*version),
        batch_error_cont_option=(contents.BatchErrorContinuationOption(continuation)
                                 if continuation else None),
        batch_count=contents.BatchCount(len(items)))
    stream = utils.BytearrayStream()
    messages.RequestMessage(request_header=hdr, batch_items=items).write(stream, kmip_version=kv)
    return bytes(stream.buffer)


def decode_response(data, version):
    ttlv.parse_response(data)  # strict structural check first
    msg = messages.ResponseMessage()
    msg.read(utils.BytearrayStream(data), kmip_version=kmip_version(*version))
    return msg


def item(operation, payload, batch_id=None):
    return messages.RequestBatchItem(
        operation=contents.Operation(operation),
        unique_batch_item_id=contents.UniqueBatchItemID(batch_id) if batch_id else None,
        request_payload=payload)


def create_aes(bits=128, name=None):
    attrs = [af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_ALGORITHM,
                                 enums.CryptographicAlgorithm.AES),
             af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_LENGTH, bits),
             af.create_attribute(enums.AttributeType.CRYPTOGRAPHIC_USAGE_MASK,
                                 [enums.CryptographicUsageMask.ENCRYPT,
                                  enums.CryptographicUsageMask.DECRYPT])]
    if name:
        attrs.append(af.create_attribute(enums.AttributeType.NAME, name))
    return payloads.CreateRequestPayload(object_type=enums.ObjectType.SYMMETRIC_KEY,
                                         template_attribute=cobjects.TemplateAttribute(
                                             attributes=attrs))


def plain(v):
    """PyKMIP's older payloads hold primitives, the newer ones plain values."""
    return v.value if hasattr(v, "value") else v


def query_payload():
    return payloads.QueryRequestPayload([enums.QueryFunction.QUERY_OPERATIONS])


@pytest.mark.parametrize("version", [(1, 2), (1, 4), (2, 0)], ids=lambda v: "%d.%d" % v)
def test_batch_with_id_placeholder(module_server, version):
    data = encode_request(version, [
        item(enums.Operation.CREATE, create_aes(), b"\x01"),
        item(enums.Operation.ACTIVATE, payloads.ActivateRequestPayload(), b"\x02"),
        item(enums.Operation.GET_ATTRIBUTES,
             payloads.GetAttributesRequestPayload(attribute_names=["State",
                                                                   "Cryptographic Length"]),
             b"\x03"),
    ])
    resp = decode_response(kh_support.raw_request(module_server.port, "alice", data), version)
    assert (resp.response_header.protocol_version.major,
            resp.response_header.protocol_version.minor) == version
    assert resp.response_header.batch_count.value == 3
    assert len(resp.batch_items) == 3
    ops = [bi.operation.value for bi in resp.batch_items]
    assert ops == [enums.Operation.CREATE, enums.Operation.ACTIVATE,
                   enums.Operation.GET_ATTRIBUTES]
    for n, bi in enumerate(resp.batch_items, 1):
        assert bi.result_status.value == RS.SUCCESS, (bi.result_reason, bi.result_message)
        assert bi.unique_batch_item_id.value == bytes([n])
    uid = resp.batch_items[0].response_payload.unique_identifier
    assert uid
    assert plain(resp.batch_items[1].response_payload.unique_identifier) == uid
    ga = resp.batch_items[2].response_payload
    assert plain(ga.unique_identifier) == uid
    got = {a.attribute_name.value: a.attribute_value.value for a in ga.attributes}
    assert got == {"State": enums.State.ACTIVE, "Cryptographic Length": 128}


def test_batch_continue_after_failure(module_server):
    data = encode_request((1, 2), [
        item(enums.Operation.QUERY, query_payload()),
        item(enums.Operation.GET, payloads.GetRequestPayload(unique_identifier="no-such-object")),
        item(enums.Operation.QUERY, query_payload()),
    ], continuation=enums.BatchErrorContinuationOption.CONTINUE)
    resp = decode_response(kh_support.raw_request(module_server.port, "alice", data), (1, 2))
    assert resp.response_header.batch_count.value == 3
    items = resp.batch_items
    assert [bi.result_status.value for bi in items] == [RS.SUCCESS, RS.OPERATION_FAILED,
                                                        RS.SUCCESS]
    assert items[1].operation.value == enums.Operation.GET
    assert items[1].result_reason.value == RR.ITEM_NOT_FOUND
    assert items[2].operation.value == enums.Operation.QUERY


def test_batch_stops_at_failure_by_default(module_server, client):
    name = "stop-probe-%d" % time.time_ns()
    data = encode_request((1, 2), [
        item(enums.Operation.QUERY, query_payload()),
        item(enums.Operation.GET, payloads.GetRequestPayload(unique_identifier="no-such-object")),
        item(enums.Operation.CREATE, create_aes(name=name)),
    ])
    r = ttlv.parse_response(kh_support.raw_request(module_server.port, "alice", data))
    assert r.batch_count == len(r.items)
    assert r.items[0].status == ttlv.STATUS_SUCCESS
    assert r.items[1].status == ttlv.STATUS_OPERATION_FAILED
    assert r.items[1].reason == ttlv.REASON_ITEM_NOT_FOUND
    # Stop: nothing after the failure runs (it may be reported as not run).
    assert all(i.status != ttlv.STATUS_SUCCESS for i in r.items[2:]), r
    c = client(module_server)
    assert c.locate(attributes=[af.create_attribute(enums.AttributeType.NAME, name)]) == []


@pytest.mark.parametrize("version", [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0)],
                         ids=lambda v: "%d.%d" % v)
def test_response_version_matches_request(module_server, version):
    data = encode_request(version, [item(enums.Operation.QUERY, query_payload())])
    raw = kh_support.raw_request(module_server.port, "alice", data)
    r = ttlv.parse_response(raw)
    assert r.version == version
    assert r.batch_count == 1 and r.items[0].status == ttlv.STATUS_SUCCESS, r
    assert abs(r.time_stamp - time.time()) < 300
    resp = decode_response(raw, version)
    ops = resp.batch_items[0].response_payload.operations
    assert enums.Operation.CREATE in ops and enums.Operation.LOCATE in ops


def test_kmip_2_1_query(module_server):
    r = ttlv.parse_response(kh_support.raw_request(module_server.port, "alice",
                                                   ttlv.query_request((2, 1))))
    assert r.version == (2, 1)
    assert r.batch_count == 1 and len(r.items) == 1
    res = r.items[0]
    assert res.status == ttlv.STATUS_SUCCESS, res
    assert res.operation == Op.QUERY
    ops = [k.value for k in res.payload.find_all(Tag.OPERATION)]
    assert Op.CREATE in ops and Op.GET in ops and Op.QUERY in ops
    types = [k.value for k in res.payload.find_all(Tag.OBJECT_TYPE)]
    assert enums.ObjectType.SYMMETRIC_KEY.value in types


def test_kmip_2_1_create_get(module_server):
    """A 2.1 Create (Attributes, not TemplateAttribute), then Get of the placeholder."""
    data = ttlv.request(
        ttlv.batch_item(Op.CREATE, ttlv.E(Tag.OBJECT_TYPE, enums.ObjectType.SYMMETRIC_KEY.value),
                        ttlv.S(Tag.ATTRIBUTES,
                               ttlv.E(Tag.CRYPTOGRAPHIC_ALGORITHM,
                                      enums.CryptographicAlgorithm.AES.value),
                               ttlv.I(Tag.CRYPTOGRAPHIC_LENGTH, 256))),
        ttlv.batch_item(Op.GET),
        version=(2, 1))
    r = ttlv.parse_response(kh_support.raw_request(module_server.port, "alice", data))
    assert r.version == (2, 1) and r.batch_count == 2
    assert [i.status for i in r.items] == [ttlv.STATUS_SUCCESS] * 2, r
    uid = r.items[0].payload.get(Tag.UNIQUE_IDENTIFIER)
    assert r.items[1].payload.get(Tag.UNIQUE_IDENTIFIER) == uid
    key = r.items[1].payload.find(0x42008F)  # SymmetricKey
    assert key is not None
    material = key.find(0x420040).find(0x420045).find(0x420043)  # KeyBlock/KeyValue/KeyMaterial
    assert material.type == ttlv.BYTE_STRING and len(material.value) == 32


def test_unknown_operation(module_server):
    with kh_support.tls_connect(module_server.port) as s:
        r = ttlv.parse_response(kh_support.send_recv(s, ttlv.request(
            ttlv.batch_item(0x0000FFFF, ttlv.T(Tag.UNIQUE_IDENTIFIER, "x")))))
        assert r.version == (1, 2) and r.batch_count == 1 and len(r.items) == 1
        assert r.items[0].status == ttlv.STATUS_OPERATION_FAILED
        assert r.items[0].reason == ttlv.REASON_OPERATION_NOT_SUPPORTED, r
        # The connection is still good.
        r = ttlv.parse_response(kh_support.send_recv(s, ttlv.query_request()))
        assert r.items[0].status == ttlv.STATUS_SUCCESS, r


def test_known_but_unimplemented_operation(module_server):
    # Check (0x09) and Archive (0x15) are real KMIP operations keyhold does not offer.
    for op in (0x09, 0x15):
        res = kh_support.call(module_server.port, op, ttlv.T(Tag.UNIQUE_IDENTIFIER, "x"))
        assert res.status == ttlv.STATUS_OPERATION_FAILED, res
        assert res.reason == ttlv.REASON_OPERATION_NOT_SUPPORTED, res


def test_unknown_operation_inside_a_batch(module_server):
    data = ttlv.request(ttlv.batch_item(Op.QUERY, ttlv.E(Tag.QUERY_FUNCTION, 1)),
                        ttlv.batch_item(0x0000FFFF),
                        ttlv.batch_item(Op.QUERY, ttlv.E(Tag.QUERY_FUNCTION, 1)),
                        continuation=ttlv.CONTINUE)
    r = ttlv.parse_response(kh_support.raw_request(module_server.port, "alice", data))
    assert [i.status for i in r.items] == [0, 1, 0], r
    assert r.items[1].reason == ttlv.REASON_OPERATION_NOT_SUPPORTED


@pytest.mark.parametrize("version", [(1, 5), (3, 0), (0, 9)], ids=lambda v: "%d.%d" % v)
def test_unsupported_protocol_version(module_server, version):
    with kh_support.tls_connect(module_server.port) as s:
        r = ttlv.parse_response(kh_support.send_recv(s, ttlv.query_request(version)))
        assert r.items and r.items[0].status == ttlv.STATUS_OPERATION_FAILED, r
        # KMIP 1.x has no better reason than Invalid Message; 2.x adds Unsupported
        # Protocol Version.
        assert r.items[0].reason in (RR.INVALID_MESSAGE.value, RR.OPERATION_NOT_SUPPORTED.value,
                                     RR.UNSUPPORTED_PROTOCOL_VERSION.value), r
        r = ttlv.parse_response(kh_support.send_recv(s, ttlv.query_request()))
        assert r.items[0].status == ttlv.STATUS_SUCCESS, r


def test_many_requests_on_one_connection(module_server):
    with kh_support.tls_connect(module_server.port) as s:
        for _ in range(20):
            r = ttlv.parse_response(kh_support.send_recv(s, ttlv.query_request()))
            assert r.items[0].status == ttlv.STATUS_SUCCESS


def test_pipelined_requests_answered_in_order(module_server):
    reqs = [ttlv.request(ttlv.batch_item(Op.DISCOVER_VERSIONS)),
            ttlv.request(ttlv.batch_item(Op.GET, ttlv.T(Tag.UNIQUE_IDENTIFIER, "nope"))),
            ttlv.query_request(),
            ttlv.request(ttlv.batch_item(Op.DISCOVER_VERSIONS), version=(1, 0))]
    with kh_support.tls_connect(module_server.port) as s:
        s.sendall(b"".join(reqs))
        got = [ttlv.parse_response(kh_support.read_message(s)) for _ in reqs]
    assert [r.items[0].operation for r in got] == [Op.DISCOVER_VERSIONS, Op.GET, Op.QUERY,
                                                   Op.DISCOVER_VERSIONS]
    assert [r.items[0].status for r in got] == [0, 1, 0, 0]
    assert [r.version for r in got] == [(1, 2), (1, 2), (1, 2), (1, 0)]
