"""Filter expressions: parsing, precedence, and the refusal of what is not served."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from stack.local.xray.filters import FilterError, compile_filter


@dataclass(frozen=True)
class Trace:
    response_time_s: float = 0.1
    duration_s: float = 0.1
    http_status: int | None = 200
    http_url: str = "/orders"
    http_method: str = "POST"
    fault: bool = False
    error: bool = False
    throttle: bool = False
    services: frozenset[str] = frozenset({"checkout"})


@pytest.mark.parametrize("expression, trace, expected", [
    ("", Trace(), True),
    ("responsetime > 5", Trace(response_time_s=5.5), True),
    ("responsetime > 5", Trace(response_time_s=5.0), False),
    ("duration >= 5 AND duration <= 8", Trace(duration_s=8), True),
    ("duration >= 5 AND duration <= 8", Trace(duration_s=8.01), False),
    ("http.status = 503", Trace(http_status=503), True),
    ("http.status != 200", Trace(http_status=None), False),
    ("fault", Trace(fault=True), True),
    ("!fault", Trace(fault=True), False),
    ("fault = false", Trace(), True),
    ("error", Trace(error=True), True),
    ("ok", Trace(throttle=True), False),
    ('service("checkout")', Trace(), True),
    ('service("catalog")', Trace(), False),
    ('SERVICE("checkout") and fault', Trace(), False),
    ('http.url CONTAINS "ord"', Trace(), True),
    ('http.method = "GET"', Trace(), False),
    # AND binds tighter than OR
    ("fault OR error AND responsetime > 1", Trace(fault=True), True),
    ("(fault OR error) AND responsetime > 1", Trace(fault=True), False),
    ("fault || error && responsetime > 1", Trace(error=True, response_time_s=2), True),
])
def test_filters(expression: str, trace: Trace, expected: bool) -> None:
    assert compile_filter(expression)(trace) is expected


@pytest.mark.parametrize("expression, named", [
    ('annotation.account = "12345"', "keyword 'annotation.account' is not served"),
    ("responsetime", "needs a comparison"),
    ("responsetime > fast", "compares with a number"),
    ("(fault", "expected ')'"),
    ("fault error", "unexpected input"),
    ('service(id(name: "x"))', "one quoted name"),
    ('service("x") { fault }', "sub-filters are not served"),
    ("fault = maybe", "true or false"),
    ("responsetime > 1 # x", "unexpected character '#'"),
])
def test_bad_filters_name_what_is_wrong(expression: str, named: str) -> None:
    with pytest.raises(FilterError) as raised:
        compile_filter(expression)
    assert named in str(raised.value) and expression in str(raised.value)
