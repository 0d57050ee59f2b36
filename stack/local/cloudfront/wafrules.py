"""WAFv2 statements compiled into matchers: what one rule of a web ACL inspects in a web request.

A web ACL arrives as GetWebACL returns it (JSON, PascalCase). ``compile_statement`` turns each rule's
statement into a ``Matcher``; the rate-based statement is stateful and lives in wafrate.py, so the
compiler asks the caller for it (``rate``). Only the statements the local stack emulates compile;
any other raises ``Unsupported`` naming it, so a web ACL is never half-enforced in silence.

Byte match follows WAF: the field is transformed (the listed TextTransformations, in priority
order), then compared with the search string by its PositionalConstraint. CONTAINS_WORD takes a
word as a run of alphanumerics and underscores, as WAF's documentation defines it.
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class WebRequest:
    """What the edge knows of one request when it asks the web ACL."""

    source_ip: str
    country: str  # ISO 3166 alpha-2 of the source, "" when the environment does not place it
    method: str
    uri_path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""  # what WAF inspects: the body's first bytes, up to the web ACL's limit
    body_oversize: bool = False  # the body was longer than that limit


Matcher = Callable[[WebRequest], bool]
OVERSIZE_HANDLINGS = ("CONTINUE", "MATCH", "NO_MATCH")
# How much of a body a CLOUDFRONT web ACL inspects: 16 KB unless its AssociationConfig raises it (WAF's Body).
BODY_LIMITS = {"KB_16": 16 * 1024, "KB_32": 32 * 1024, "KB_48": 48 * 1024, "KB_64": 64 * 1024}


class Unsupported(ValueError):
    """A statement or setting the local stack does not emulate."""


def _transform(value: bytes, name: str) -> bytes:
    if name == "NONE":
        return value
    if name == "LOWERCASE":
        return value.lower()
    if name == "UPPERCASE":
        return value.upper()
    if name == "URL_DECODE":
        return urllib.parse.unquote_to_bytes(value.replace(b"+", b" "))
    if name == "COMPRESS_WHITE_SPACE":
        return re.sub(rb"[\s\x0b\x0c]+", b" ", value)
    if name in ("TRIM", "TRIM_LEFT", "TRIM_RIGHT"):
        return value.strip() if name == "TRIM" else value.lstrip() if name == "TRIM_LEFT" else value.rstrip()
    if name == "REMOVE_WHITESPACE":
        return re.sub(rb"\s+", b"", value)
    if name == "BASE64_DECODE":
        try:
            return base64.b64decode(value, validate=False)
        except (binascii.Error, ValueError):
            return value
    raise Unsupported(f"TextTransformation {name!r} is not emulated; emulated: NONE, LOWERCASE, UPPERCASE, URL_DECODE, "
                      "COMPRESS_WHITE_SPACE, TRIM, TRIM_LEFT, TRIM_RIGHT, REMOVE_WHITESPACE, BASE64_DECODE")


def _field(spec: Mapping[str, Any]) -> Callable[[WebRequest], bytes]:
    """The part of the request a FieldToMatch names, as bytes."""
    if "UriPath" in spec:
        return lambda request: request.uri_path.encode()
    if "QueryString" in spec:
        return lambda request: request.query.encode()
    if "Method" in spec:
        return lambda request: request.method.encode()
    if "Body" in spec:
        return lambda request: request.body
    if "SingleHeader" in spec:
        name = str(spec["SingleHeader"]["Name"]).lower()
        return lambda request: request.headers.get(name, "").encode()
    if "SingleQueryArgument" in spec:
        argument = str(spec["SingleQueryArgument"]["Name"]).lower()

        def argument_value(request: WebRequest) -> bytes:
            for key, value in urllib.parse.parse_qsl(request.query, keep_blank_values=True):
                if key.lower() == argument:
                    return value.encode()
            return b""
        return argument_value
    raise Unsupported(f"FieldToMatch {sorted(spec)} is not emulated; emulated: UriPath, QueryString, Method, Body, "
                      "SingleHeader, SingleQueryArgument")


def _positional(constraint: str, needle: bytes) -> Callable[[bytes], bool]:
    if constraint == "EXACTLY":
        return lambda value: value == needle
    if constraint == "STARTS_WITH":
        return lambda value: value.startswith(needle)
    if constraint == "ENDS_WITH":
        return lambda value: value.endswith(needle)
    if constraint == "CONTAINS":
        return lambda value: needle in value
    if constraint == "CONTAINS_WORD":
        word = re.compile(rb"(?<![A-Za-z0-9_])" + re.escape(needle) + rb"(?![A-Za-z0-9_])")
        return lambda value: word.search(value) is not None
    raise Unsupported(f"PositionalConstraint {constraint!r}; allowed: EXACTLY, STARTS_WITH, ENDS_WITH, CONTAINS, CONTAINS_WORD")


def _search_string(statement: Mapping[str, Any]) -> bytes:
    value = statement.get("SearchString", b"")
    if isinstance(value, bytes):
        return value
    # The JSON wire form of a blob is base64; boto3 sends raw bytes base64-encoded.
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return str(value).encode()


def _oversize_handling(spec: Mapping[str, Any]) -> str | None:
    """A Body field's OversizeHandling (CONTINUE by default), None for any other field.

    CONTINUE inspects the part within the limit; MATCH and NO_MATCH decide a longer body without inspecting it."""
    if "Body" not in spec:
        return None
    handling = str((spec["Body"] or {}).get("OversizeHandling", "CONTINUE"))
    if handling not in OVERSIZE_HANDLINGS:
        raise Unsupported(f"Body OversizeHandling {handling!r}; allowed: {', '.join(OVERSIZE_HANDLINGS)}")
    return handling


def byte_match(statement: Mapping[str, Any]) -> Matcher:
    spec = statement.get("FieldToMatch") or {}
    read = _field(spec)
    oversize = _oversize_handling(spec)
    transforms = [str(t["Type"]) for t in sorted(statement.get("TextTransformations") or [], key=lambda t: int(t["Priority"]))]
    for name in transforms:
        _transform(b"", name)  # refuse an unsupported transformation when compiling, not per request
    test = _positional(str(statement.get("PositionalConstraint", "")), _search_string(statement))

    def match(request: WebRequest) -> bool:
        if oversize is not None and oversize != "CONTINUE" and request.body_oversize:
            return oversize == "MATCH"
        value = read(request)
        for name in transforms:
            value = _transform(value, name)
        return test(value)
    return match


def ip_networks(addresses: list[str]) -> list[Network]:
    return [ipaddress.ip_network(address, strict=False) for address in addresses]


def ip_set(networks: list[Network]) -> Matcher:
    def match(request: WebRequest) -> bool:
        try:
            address = ipaddress.ip_address(request.source_ip)
        except ValueError:
            return False
        return any(address in network for network in networks)
    return match


def geo_match(countries: list[str]) -> Matcher:
    wanted = frozenset(countries)
    return lambda request: request.country in wanted


# A rate-based statement is stateful (wafrate.RateRule): the caller builds it from the statement and
# the compiled scope-down matcher (None when there is none).
RateFactory = Callable[[Mapping[str, Any], "Matcher | None"], Matcher]
IpSetLookup = Callable[[str], "list[Network]"]


def compile_statement(statement: Mapping[str, Any], ip_sets: IpSetLookup, rate: RateFactory) -> Matcher:
    """A matcher for one WAFv2 Statement; ``ip_sets`` resolves an IP set's ARN to its networks."""
    if "ByteMatchStatement" in statement:
        return byte_match(statement["ByteMatchStatement"])
    if "IPSetReferenceStatement" in statement:
        return ip_set(ip_sets(str(statement["IPSetReferenceStatement"]["ARN"])))
    if "GeoMatchStatement" in statement:
        return geo_match(list(statement["GeoMatchStatement"].get("CountryCodes") or []))
    if "RateBasedStatement" in statement:
        inner = statement["RateBasedStatement"]
        scope = inner.get("ScopeDownStatement")
        return rate(inner, compile_statement(scope, ip_sets, rate) if scope else None)
    if "AndStatement" in statement:
        parts = [compile_statement(s, ip_sets, rate) for s in statement["AndStatement"]["Statements"]]
        return lambda request: all(part(request) for part in parts)
    if "OrStatement" in statement:
        parts = [compile_statement(s, ip_sets, rate) for s in statement["OrStatement"]["Statements"]]
        return lambda request: any(part(request) for part in parts)
    if "NotStatement" in statement:
        inner_match = compile_statement(statement["NotStatement"]["Statement"], ip_sets, rate)
        return lambda request: not inner_match(request)
    raise Unsupported(f"statement {sorted(statement)} is not emulated; emulated: ByteMatchStatement, IPSetReferenceStatement, "
                      "GeoMatchStatement, RateBasedStatement, AndStatement, OrStatement, NotStatement")
