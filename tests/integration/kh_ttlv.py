"""
kh_ttlv.py - a small, strict KMIP TTLV codec for the integration tests.

It exists so the tests can say things PyKMIP cannot: protocol version 2.1,
unknown operations and tags, malformed lengths, absurd nesting. It is not a
KMIP library: it knows the handful of tags the tests use, encodes exactly
what it is given (no padding fix-ups beyond the rule), and decodes strictly
so that a malformed server reply fails the test instead of being guessed at.
"""
import struct

# Item types (KMIP 1.x/2.x section 9.1.1.2)
STRUCTURE = 0x01
INTEGER = 0x02
LONG_INTEGER = 0x03
BIG_INTEGER = 0x04
ENUMERATION = 0x05
BOOLEAN = 0x06
TEXT_STRING = 0x07
BYTE_STRING = 0x08
DATE_TIME = 0x09
INTERVAL = 0x0A

RAW = -1  # not KMIP: an Item whose value (bytes) is emitted verbatim, for malformed input

HEADER_LEN = 8


class Tag:
    ATTRIBUTE = 0x420008
    ATTRIBUTE_INDEX = 0x420009
    ATTRIBUTE_NAME = 0x42000A
    ATTRIBUTE_VALUE = 0x42000B
    BATCH_COUNT = 0x42000D
    BATCH_ERROR_CONTINUATION_OPTION = 0x42000E
    BATCH_ITEM = 0x42000F
    CRYPTOGRAPHIC_ALGORITHM = 0x420028
    CRYPTOGRAPHIC_LENGTH = 0x42002A
    NAME = 0x420053
    NAME_TYPE = 0x420054
    NAME_VALUE = 0x420055
    OBJECT_TYPE = 0x420057
    OPERATION = 0x42005C
    PROTOCOL_VERSION = 0x420069
    PROTOCOL_VERSION_MAJOR = 0x42006A
    PROTOCOL_VERSION_MINOR = 0x42006B
    QUERY_FUNCTION = 0x420074
    REQUEST_HEADER = 0x420077
    REQUEST_MESSAGE = 0x420078
    REQUEST_PAYLOAD = 0x420079
    RESPONSE_HEADER = 0x42007A
    RESPONSE_MESSAGE = 0x42007B
    RESPONSE_PAYLOAD = 0x42007C
    RESULT_MESSAGE = 0x42007D
    RESULT_REASON = 0x42007E
    RESULT_STATUS = 0x42007F
    STATE = 0x42008D
    TEMPLATE_ATTRIBUTE = 0x420091
    TIME_STAMP = 0x420092
    UNIQUE_BATCH_ITEM_ID = 0x420093
    UNIQUE_IDENTIFIER = 0x420094
    VENDOR_IDENTIFICATION = 0x42009D
    ATTRIBUTES = 0x420125


class Op:
    CREATE = 0x01
    REGISTER = 0x03
    LOCATE = 0x08
    GET = 0x0A
    GET_ATTRIBUTES = 0x0B
    GET_ATTRIBUTE_LIST = 0x0C
    ADD_ATTRIBUTE = 0x0D
    MODIFY_ATTRIBUTE = 0x0E
    DELETE_ATTRIBUTE = 0x0F
    ACTIVATE = 0x12
    REVOKE = 0x13
    DESTROY = 0x14
    QUERY = 0x18
    DISCOVER_VERSIONS = 0x1E


# ResultStatus / ResultReason values used by the tests
STATUS_SUCCESS = 0
STATUS_OPERATION_FAILED = 1
REASON_ITEM_NOT_FOUND = 0x01
REASON_INVALID_MESSAGE = 0x04
REASON_OPERATION_NOT_SUPPORTED = 0x05
REASON_MISSING_DATA = 0x06
REASON_INVALID_FIELD = 0x07

QUERY_OPERATIONS = 1
QUERY_OBJECTS = 2
CONTINUE = 1  # BatchErrorContinuationOption
STOP = 2


class Item:
    """One TTLV item. value: list of Item for structures, int, bool, str or bytes."""

    __slots__ = ("tag", "type", "value")

    def __init__(self, tag, type_, value):
        self.tag = tag
        self.type = type_
        self.value = value

    def find(self, tag):
        assert self.type == STRUCTURE, "find() on a %s" % self
        for kid in self.value:
            if kid.tag == tag:
                return kid
        return None

    def find_all(self, tag):
        assert self.type == STRUCTURE
        return [k for k in self.value if k.tag == tag]

    def get(self, tag):
        """Value of the first child with tag; KeyError if absent."""
        kid = self.find(tag)
        if kid is None:
            raise KeyError("tag 0x%06X not in %s" % (tag, self))
        return kid.value

    def __repr__(self):
        if self.type == STRUCTURE:
            return "S(0x%06X, %d kids)" % (self.tag, len(self.value))
        return "Item(0x%06X, type %d, %r)" % (self.tag, self.type, self.value)


# ---- builders ---------------------------------------------------------------


def S(tag, *kids):
    return Item(tag, STRUCTURE, [k for k in kids if k is not None])


def I(tag, v):  # noqa: E743 - the KMIP name
    return Item(tag, INTEGER, v)


def L(tag, v):
    return Item(tag, LONG_INTEGER, v)


def E(tag, v):
    return Item(tag, ENUMERATION, v)


def BOOL(tag, v):
    return Item(tag, BOOLEAN, v)


def T(tag, s):
    return Item(tag, TEXT_STRING, s)


def B(tag, b):
    return Item(tag, BYTE_STRING, bytes(b))


def DT(tag, v):
    return Item(tag, DATE_TIME, v)


# ---- encoding ---------------------------------------------------------------


def _pad(n):
    return (8 - n % 8) % 8


def header(tag, type_, length):
    return struct.pack(">I", tag)[1:] + bytes([type_]) + struct.pack(">I", length)


def Raw(data):
    """Bytes emitted as they are, header and all: for building malformed messages."""
    return Item(0, RAW, bytes(data))


def encode(item):
    t = item.type
    if t == RAW:
        return item.value
    if t == STRUCTURE:
        body = b"".join(encode(k) for k in item.value)
        return header(item.tag, t, len(body)) + body
    if t in (INTEGER, ENUMERATION, INTERVAL):
        fmt = ">i" if t == INTEGER else ">I"
        return header(item.tag, t, 4) + struct.pack(fmt, item.value) + b"\0" * 4
    if t in (LONG_INTEGER, DATE_TIME):
        return header(item.tag, t, 8) + struct.pack(">q", item.value)
    if t == BOOLEAN:
        return header(item.tag, t, 8) + struct.pack(">Q", 1 if item.value else 0)
    if t in (TEXT_STRING, BYTE_STRING):
        raw = item.value.encode("utf-8") if t == TEXT_STRING else item.value
        return header(item.tag, t, len(raw)) + raw + b"\0" * _pad(len(raw))
    if t == BIG_INTEGER:
        raw = item.value
        assert len(raw) % 8 == 0
        return header(item.tag, t, len(raw)) + raw
    raise ValueError("cannot encode type %d" % t)


# ---- decoding ---------------------------------------------------------------


class DecodeError(ValueError):
    pass


def _decode_at(buf, pos, end, depth):
    if end - pos < HEADER_LEN:
        raise DecodeError("truncated header at %d" % pos)
    tag = int.from_bytes(buf[pos:pos + 3], "big")
    t = buf[pos + 3]
    n = int.from_bytes(buf[pos + 4:pos + 8], "big")
    v = pos + HEADER_LEN
    padded = n + _pad(n) if t in (TEXT_STRING, BYTE_STRING) else n
    if t in (INTEGER, ENUMERATION, INTERVAL):
        if n != 4:
            raise DecodeError("bad length %d for type %d" % (n, t))
        padded = 8
    if t in (STRUCTURE, BIG_INTEGER) and n % 8:
        raise DecodeError("length %d of 0x%06X is not a multiple of 8" % (n, tag))
    if v + padded > end:
        raise DecodeError("item 0x%06X overruns its parent" % tag)
    raw = bytes(buf[v:v + n])
    if t == STRUCTURE:
        if depth > 64:
            raise DecodeError("nesting too deep")
        kids, p = [], v
        while p < v + n:
            kid, p = _decode_at(buf, p, v + n, depth + 1)
            kids.append(kid)
        value = kids
    elif t == INTEGER:
        value = struct.unpack(">i", raw)[0]
    elif t in (ENUMERATION, INTERVAL):
        value = struct.unpack(">I", raw)[0]
    elif t in (LONG_INTEGER, DATE_TIME):
        if n != 8:
            raise DecodeError("bad length %d for type %d" % (n, t))
        value = struct.unpack(">q", raw)[0]
    elif t == BOOLEAN:
        if n != 8:
            raise DecodeError("bad boolean length")
        value = struct.unpack(">Q", raw)[0] != 0
    elif t == TEXT_STRING:
        value = raw.decode("utf-8")
    elif t in (BYTE_STRING, BIG_INTEGER):
        value = raw
    else:
        raise DecodeError("unknown item type 0x%02X" % t)
    if any(buf[v + n:v + padded]):
        raise DecodeError("non-zero padding in 0x%06X" % tag)
    return Item(tag, t, value), v + padded


def decode(data):
    """Decode exactly one item that fills data; DecodeError otherwise."""
    item, end = _decode_at(memoryview(data), 0, len(data), 0)
    if end != len(data):
        raise DecodeError("%d trailing bytes" % (len(data) - end))
    return item


# ---- KMIP messages ----------------------------------------------------------


def protocol_version(major, minor):
    return S(Tag.PROTOCOL_VERSION, I(Tag.PROTOCOL_VERSION_MAJOR, major),
             I(Tag.PROTOCOL_VERSION_MINOR, minor))


def batch_item(operation, *payload_kids, batch_id=None, extra=()):
    return S(Tag.BATCH_ITEM, E(Tag.OPERATION, operation),
             B(Tag.UNIQUE_BATCH_ITEM_ID, batch_id) if batch_id is not None else None,
             *extra, S(Tag.REQUEST_PAYLOAD, *payload_kids))


def request_item(*items, version=(1, 2), batch_count=None, continuation=None, header_extra=()):
    hdr = S(Tag.REQUEST_HEADER, protocol_version(*version),
            E(Tag.BATCH_ERROR_CONTINUATION_OPTION, continuation) if continuation else None,
            *header_extra,
            I(Tag.BATCH_COUNT, len(items) if batch_count is None else batch_count))
    return S(Tag.REQUEST_MESSAGE, hdr, *items)


def request(*items, **kw):
    """Encoded RequestMessage holding the given batch items."""
    return encode(request_item(*items, **kw))


def query_request(version=(1, 2)):
    return request(batch_item(Op.QUERY, E(Tag.QUERY_FUNCTION, QUERY_OPERATIONS),
                              E(Tag.QUERY_FUNCTION, QUERY_OBJECTS)), version=version)


def attribute_v1(name, value_item, index=None):
    """A KMIP 1.x Attribute; value_item's tag is forced to AttributeValue."""
    value_item.tag = Tag.ATTRIBUTE_VALUE
    return S(Tag.ATTRIBUTE, T(Tag.ATTRIBUTE_NAME, name),
             I(Tag.ATTRIBUTE_INDEX, index) if index is not None else None, value_item)


class Result:
    """One response batch item."""

    def __init__(self, item):
        self.item = item
        op = item.find(Tag.OPERATION)
        self.operation = op.value if op is not None else None
        self.status = item.get(Tag.RESULT_STATUS)
        reason = item.find(Tag.RESULT_REASON)
        self.reason = reason.value if reason is not None else None
        msg = item.find(Tag.RESULT_MESSAGE)
        self.message = msg.value if msg is not None else None
        bid = item.find(Tag.UNIQUE_BATCH_ITEM_ID)
        self.batch_id = bid.value if bid is not None else None
        self.payload = item.find(Tag.RESPONSE_PAYLOAD)

    def __repr__(self):
        return "Result(op=%r, status=%r, reason=%r, message=%r)" % (
            self.operation, self.status, self.reason, self.message)


class Response:
    def __init__(self, data):
        self.raw = data
        msg = decode(data)
        if msg.tag != Tag.RESPONSE_MESSAGE or msg.type != STRUCTURE:
            raise DecodeError("not a ResponseMessage: %s" % msg)
        hdr = msg.find(Tag.RESPONSE_HEADER)
        if hdr is None:
            raise DecodeError("ResponseMessage without ResponseHeader")
        pv = hdr.find(Tag.PROTOCOL_VERSION)
        self.version = (pv.get(Tag.PROTOCOL_VERSION_MAJOR), pv.get(Tag.PROTOCOL_VERSION_MINOR))
        self.batch_count = hdr.get(Tag.BATCH_COUNT)
        self.time_stamp = hdr.get(Tag.TIME_STAMP)
        self.items = [Result(bi) for bi in msg.find_all(Tag.BATCH_ITEM)]

    def __repr__(self):
        return "Response(version=%r, batch_count=%r, items=%r)" % (
            self.version, self.batch_count, self.items)


def parse_response(data):
    return Response(data)


def frame_length(hdr8):
    """Total length of a message from its first 8 bytes."""
    return HEADER_LEN + int.from_bytes(hdr8[4:8], "big")
