"""Malformed and hostile DNS messages, reproducible from a seed: for the responder's fuzz test and the soak benchmark.

Each generator returns the bytes of one message as a client might send it (no TCP length prefix).
They start from real queries built with dnspython and break one thing, so most get past the first
byte checks and reach deeper code: truncated headers and questions, compression pointers (loops,
forward, out of range) where a query has no business using them, oversized labels and names,
every opcode, odd classes and types, lying section counts, and EDNS OPT records that are
misplaced, doubled, of a future version, or carry broken Client Subnet and unknown options.
"""
from __future__ import annotations

import random
import struct
from typing import Callable

import dns.edns
import dns.message
import dns.name

Generator = Callable[[random.Random], bytes]
NAMES = ("www.example.com.", "big.example.com.", "checkout.example.com.", "nope.example.com.", "example.com.",
         "geo.example.com.", "other.test.")


def valid_query(rng: random.Random) -> bytes:
    """A well-formed query the server must answer: plain, EDNS, or EDNS with an IPv4 Client Subnet."""
    name = rng.choice(NAMES)
    kind = rng.randrange(3)
    if kind == 0:
        message = dns.message.make_query(name, rng.choice(("A", "AAAA", "TXT", "SOA", "NS")))
    elif kind == 1:
        message = dns.message.make_query(name, "A", use_edns=0, payload=rng.choice((512, 1232, 4096)))
    else:
        subnet = f"127.{rng.randrange(256)}.{rng.randrange(256)}.0"
        message = dns.message.make_query(name, "A", use_edns=0, options=[dns.edns.ECSOption(subnet, 24)])
    message.id = rng.randrange(65536)
    return message.to_wire()


def _header(ident: int, flags: int, qd: int, an: int, ns: int, ar: int) -> bytes:
    return struct.pack("!HHHHHH", ident, flags, qd, an, ns, ar)


def _question(name: bytes, qtype: int = 1, qclass: int = 1) -> bytes:
    return name + struct.pack("!HH", qtype, qclass)


def _opt(payload: int = 1232, ext_rcode: int = 0, version: int = 0, flags: int = 0, rdata: bytes = b"",
         owner: bytes = b"\x00", rdlength: int | None = None) -> bytes:
    ttl = (ext_rcode << 24) | (version << 16) | flags
    return owner + struct.pack("!HHIH", 41, payload, ttl, len(rdata) if rdlength is None else rdlength) + rdata


def _option(code: int, data: bytes, length: int | None = None) -> bytes:
    return struct.pack("!HH", code, len(data) if length is None else length) + data


def _wire_name(rng: random.Random) -> bytes:
    return dns.name.from_text(rng.choice(NAMES)).to_wire()


def random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 2, 5, 11, 12, 13, 17, 30, 64, 300, 512, 1500)))


def truncated(rng: random.Random) -> bytes:
    wire = valid_query(rng)
    return wire[:rng.randrange(len(wire))]


def bit_flips(rng: random.Random) -> bytes:
    wire = bytearray(valid_query(rng))
    for _ in range(rng.randint(1, 6)):
        wire[rng.randrange(len(wire))] ^= 1 << rng.randrange(8)
    return bytes(wire)


def trailing_garbage(rng: random.Random) -> bytes:
    return valid_query(rng) + rng.randbytes(rng.randint(1, 64))


def compression(rng: random.Random) -> bytes:
    """Pointers in the question: to itself, in a two-pointer loop, forward, past the end, into the header."""
    ident = rng.randrange(65536)
    choice = rng.randrange(6)
    if choice == 0:
        name = b"\xc0\x0c"  # points at itself
    elif choice == 1:
        name = b"\x03www\xc0\x0c"  # label then back to its own start: endless
    elif choice == 2:
        name = b"\x01a\xc0\x0f\x01b\xc0\x0c"  # a -> b -> a ...
    elif choice == 3:
        name = b"\x03www\xc0" + bytes([rng.randrange(40, 256)])  # past the end
    elif choice == 4:
        name = b"\xc0" + bytes([rng.randrange(0, 12)])  # into the header
    else:
        name = bytes([rng.choice((0x40, 0x80, 0x41, 0xbf))]) + b"xx\x00"  # reserved label types
    return _header(ident, 0x0100, 1, 0, 0, 0) + _question(name)


def oversize(rng: random.Random) -> bytes:
    """Labels over 63 bytes, names over 255, a question longer than any datagram should be."""
    ident = rng.randrange(65536)
    choice = rng.randrange(4)
    if choice == 0:
        name = b"\x40" + b"a" * 64 + b"\x00"
    elif choice == 1:
        name = b"".join(b"\x3f" + b"b" * 63 for _ in range(5)) + b"\x00"  # 321 bytes
    elif choice == 2:
        name = b"\x01c" * 200 + b"\x00"  # 401 bytes in 200 labels
    else:
        return _header(ident, 0x0100, 1, 0, 0, 0) + _wire_name(rng) + rng.randbytes(rng.randint(4000, 65000))
    return _header(ident, 0x0100, 1, 0, 0, 0) + _question(name)


def opcode_class_type(rng: random.Random) -> bytes:
    """Every opcode, QR set (a response: must not be answered), odd classes and meta types."""
    ident = rng.randrange(65536)
    opcode = rng.randrange(16)
    qr = 0x8000 if rng.random() < 0.2 else 0
    flags = qr | (opcode << 11) | rng.choice((0, 0x0100, 0x0010, 0x0020, 0x0040, 0x000f))
    qclass = rng.choice((1, 3, 4, 254, 255, 0, 65535, rng.randrange(65536)))
    qtype = rng.choice((1, 0, 41, 250, 251, 252, 253, 254, 255, 65535, rng.randrange(65536)))
    return _header(ident, flags, 1, 0, 0, 0) + _question(_wire_name(rng), qtype, qclass)


def counts(rng: random.Random) -> bytes:
    """Section counts that lie: no question, several, or records announced and absent."""
    ident = rng.randrange(65536)
    qd, an, ns, ar = rng.choice(((0, 0, 0, 0), (2, 0, 0, 0), (65535, 0, 0, 0), (1, 5, 0, 0), (1, 0, 3, 0),
                                 (1, 0, 0, 9), (1, 65535, 65535, 65535)))
    body = b"".join(_question(_wire_name(rng)) for _ in range(min(qd, 2)))
    return _header(ident, 0x0100, qd, an, ns, ar) + body


def bad_edns(rng: random.Random) -> bytes:
    """OPT records that are wrong, and Client Subnet / unknown options that are malformed."""
    ident = rng.randrange(65536)
    question = _question(_wire_name(rng))
    choice = rng.randrange(14)
    if choice == 0:
        return _header(ident, 0x0100, 1, 0, 0, 2) + question + _opt() + _opt()  # two OPTs
    if choice == 1:
        return _header(ident, 0x0100, 1, 0, 0, 1) + question + _opt(owner=b"\x03www\x00")  # owner not root
    if choice == 2:
        return _header(ident, 0x0100, 1, 1, 0, 0) + question + _opt()  # OPT in the answer section
    if choice == 3:
        return _header(ident, 0x0100, 1, 0, 0, 1) + question + _opt(version=rng.randint(1, 255))
    if choice == 4:
        return _header(ident, 0x0100, 1, 0, 0, 1) + question + _opt(rdata=b"\x00\x08\x00", rdlength=40)
    if choice == 5:
        return _header(ident, 0x0100, 1, 0, 0, 1) + question + _opt(payload=rng.choice((0, 1, 511, 65535)))
    ecs: bytes
    if choice == 6:
        ecs = struct.pack("!HBB", 1, 33, 0) + b"\x7f\x00\x00\x01\x00"  # IPv4 prefix 33
    elif choice == 7:
        ecs = struct.pack("!HBB", 2, 129, 0) + b"\x00" * 17  # IPv6 prefix 129
    elif choice == 8:
        ecs = struct.pack("!HBB", 1, 24, 0) + b"\x7f\x00"  # address shorter than the prefix
    elif choice == 9:
        ecs = struct.pack("!HBB", 1, 24, 24) + b"\x7f\x00\x00"  # scope set in a query
    elif choice == 10:
        ecs = struct.pack("!HBB", rng.randrange(3, 65536), 8, 0) + b"\x7f"  # unknown family
    elif choice == 11:
        ecs = b"\x00"  # shorter than the fixed part
    elif choice == 12:
        ecs = struct.pack("!HBB", 1, 0, 0) + b"\x7f\x00\x00\x01"  # prefix 0 with address bytes
    else:
        option = _option(rng.randrange(65536), rng.randbytes(rng.randint(0, 20)))
        option += _option(8, b"\x00\x01", length=rng.randint(3, 300))  # length past the end
        return _header(ident, 0x0100, 1, 0, 0, 1) + question + _opt(rdata=option)
    return _header(ident, 0x0100, 1, 0, 0, 1) + question + _opt(rdata=_option(8, ecs))


GENERATORS: dict[str, Generator] = {
    "random_bytes": random_bytes,
    "truncated": truncated,
    "bit_flips": bit_flips,
    "trailing_garbage": trailing_garbage,
    "compression": compression,
    "oversize": oversize,
    "opcode_class_type": opcode_class_type,
    "counts": counts,
    "bad_edns": bad_edns,
}


def malformed(rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(tuple(GENERATORS))
    return kind, GENERATORS[kind](rng)
