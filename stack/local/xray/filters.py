"""X-Ray filter expressions, parsed and compiled into a predicate over a trace's summary.

The subset served (the X-Ray Developer Guide's syntax, "Use filter expressions"):

- numbers, in seconds: ``responsetime`` and ``duration``; ``http.status``; with ``= != < <= > >=``;
- strings: ``http.url``, ``http.method`` with ``= !=`` and ``CONTAINS``, ``BEGINSWITH``, ``ENDSWITH``;
- booleans: ``ok``, ``error``, ``fault``, ``throttle``, alone, negated with ``!``, or ``= true|false``;
- ``service("name")``: the trace passed through that node;
- ``AND`` / ``OR`` (also ``&&`` / ``||``), ``!``, parentheses.

Anything else (annotations, ``edge()``, ``id()``, groups) is refused with ``FilterError``, which
the API answers as InvalidRequestException naming the expression and what is served.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol

SERVED = ("responsetime, duration, http.status (numbers); http.url, http.method (strings); ok, error, fault, "
          "throttle (booleans); service(\"name\"); AND, OR, !, parentheses")


class Summary(Protocol):
    """What a filter reads of a trace."""

    @property
    def response_time_s(self) -> float: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def http_status(self) -> int | None: ...
    @property
    def http_url(self) -> str: ...
    @property
    def http_method(self) -> str: ...
    @property
    def fault(self) -> bool: ...
    @property
    def error(self) -> bool: ...
    @property
    def throttle(self) -> bool: ...
    @property
    def services(self) -> frozenset[str]: ...


Predicate = Callable[[Summary], bool]


class FilterError(Exception):
    """The filter expression cannot be parsed or uses what is not served."""


_TOKEN = re.compile(r"""\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<string>"(?:[^"\\]|\\.)*")|(?P<op>&&|\|\||<=|>=|!=|[=<>!(),{}:])"""
                    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))""")
_Read = Callable[[Summary], Any]
_NUMBERS: dict[str, _Read] = {"responsetime": lambda s: s.response_time_s, "duration": lambda s: s.duration_s,
            "http.status": lambda s: s.http_status}
_STRINGS: dict[str, _Read] = {"http.url": lambda s: s.http_url, "http.method": lambda s: s.http_method}
_BOOLEANS: dict[str, _Read] = {"ok": lambda s: not (s.fault or s.error or s.throttle), "error": lambda s: s.error,
             "fault": lambda s: s.fault, "throttle": lambda s: s.throttle}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "CONTAINS": lambda a, b: b in a,
    "BEGINSWITH": lambda a, b: a.startswith(b), "ENDSWITH": lambda a, b: a.endswith(b)}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, op, word, end
    text: str
    at: int


def _tokens(expression: str) -> list[_Token]:
    out, at = [], 0
    while at < len(expression):
        if expression[at:].strip() == "":
            break
        match = _TOKEN.match(expression, at)
        if match is None or match.end() == at:
            raise FilterError(f"filter expression {expression!r}: unexpected character "
                              f"{expression[at:].lstrip()[:1]!r} at position {at + 1}")
        kind = match.lastgroup or "op"
        out.append(_Token(kind, match.group(kind), match.start(kind)))
        at = match.end()
    out.append(_Token("end", "", len(expression)))
    return out


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.at = 0

    def fail(self, what: str) -> FilterError:
        token = self.tokens[self.at]
        where = f"at position {token.at + 1} ({token.text!r})" if token.kind != "end" else "at the end"
        return FilterError(f"filter expression {self.expression!r}: {what} {where}; served: {SERVED}")

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, text: str) -> None:
        if self.peek().text != text:
            raise self.fail(f"expected {text!r}")
        self.take()

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek().kind != "end":
            raise self.fail("unexpected input")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek().text.upper() in ("OR", "||") and self.peek().kind in ("word", "op"):
            self.take()
            parts.append(self.conjunction())
        return _fold(parts, either)

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.peek().text.upper() in ("AND", "&&") and self.peek().kind in ("word", "op"):
            self.take()
            parts.append(self.negation())
        return _fold(parts, both)

    def negation(self) -> Predicate:
        if self.peek().text == "!":
            self.take()
            inner = self.negation()
            return lambda s: not inner(s)
        return self.primary()

    def primary(self) -> Predicate:
        token = self.peek()
        if token.text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        if token.kind != "word":
            raise self.fail("expected a keyword")
        word = token.text.lower()
        self.take()
        if word == "service":
            return self.service()
        if word in _NUMBERS:
            return self.number(word)
        if word in _STRINGS:
            return self.string(word)
        if word in _BOOLEANS:
            return self.boolean(word)
        self.at -= 1
        raise self.fail(f"keyword {token.text!r} is not served")

    def service(self) -> Predicate:
        self.expect("(")
        token = self.take()
        if token.kind != "string":
            self.at -= 1
            raise self.fail('service() takes one quoted name, such as service("checkout")')
        name = _unquote(token.text)
        self.expect(")")
        if self.peek().text == "{":
            raise self.fail("service() { ... } sub-filters are not served")
        return lambda s: name in s.services

    def number(self, word: str) -> Predicate:
        op = self.take()
        if op.text not in _COMPARE:
            self.at -= 1
            raise self.fail(f"{word} needs a comparison (= != < <= > >=)")
        value = self.take()
        if value.kind != "number":
            self.at -= 1
            raise self.fail(f"{word} compares with a number")
        read, compare, bound = _NUMBERS[word], _COMPARE[op.text], float(value.text)

        def check(s: Summary) -> bool:
            found = read(s)
            return found is not None and compare(found, bound)
        return check

    def string(self, word: str) -> Predicate:
        op = self.take()
        name = op.text.upper()
        if name not in _STRING_OPS:
            self.at -= 1
            raise self.fail(f"{word} needs = != CONTAINS BEGINSWITH or ENDSWITH")
        value = self.take()
        if value.kind != "string":
            self.at -= 1
            raise self.fail(f"{word} compares with a quoted string")
        read, compare, text = _STRINGS[word], _STRING_OPS[name], _unquote(value.text)
        return lambda s: compare(read(s), text)

    def boolean(self, word: str) -> Predicate:
        read = _BOOLEANS[word]
        if self.peek().text in ("=", "!="):
            op = self.take().text
            value = self.take()
            if value.text.lower() not in ("true", "false"):
                self.at -= 1
                raise self.fail(f"{word} compares with true or false")
            wanted = (value.text.lower() == "true") == (op == "=")
            return lambda s: read(s) == wanted
        return lambda s: bool(read(s))


def either(a: Predicate, b: Predicate) -> Predicate:
    return lambda s: a(s) or b(s)


def both(a: Predicate, b: Predicate) -> Predicate:
    return lambda s: a(s) and b(s)


def _fold(parts: list[Predicate], join: Callable[[Predicate, Predicate], Predicate]) -> Predicate:
    # Nested closures, not any()/all() over a generator: a query runs the predicate once per trace.
    predicate = parts[0]
    for part in parts[1:]:
        predicate = join(predicate, part)
    return predicate


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def compile_filter(expression: str | None) -> Predicate:
    """The predicate of ``expression`` (every trace when it is empty). Raises FilterError."""
    if expression is None or not expression.strip():
        return lambda _s: True
    return _Parser(expression).parse()
