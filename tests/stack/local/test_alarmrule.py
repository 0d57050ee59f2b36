"""A composite alarm's AlarmRule: parsed, evaluated, and refused with where it is wrong."""
from __future__ import annotations

import pytest

from stack.local import alarmrule


def test_precedence_and_arns() -> None:
    rule = alarmrule.parse('ALARM("a") OR ALARM(arn:aws:cloudwatch:us-east-1:123456789012:alarm:b) AND NOT OK("c")')
    assert rule.alarms() == {"a", "b", "c"}
    states = {"a": "OK", "b": "ALARM", "c": "INSUFFICIENT_DATA"}
    assert rule.evaluate(states.get)  # a OR (b AND NOT c-ok)
    assert not alarmrule.parse('(ALARM("a") OR ALARM("b")) AND OK("c")').evaluate(states.get)
    assert alarmrule.parse("TRUE").evaluate(states.get) and not alarmrule.parse("FALSE").evaluate(states.get)
    assert not alarmrule.parse('ALARM("gone")').evaluate(states.get)


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"), ('ALARM("a"', "takes one alarm"), ('ALARM("a") AND', "ends where an expression was expected"),
    ('WARN("a")', "unexpected 'WARN'"), ("(TRUE", "not closed"), ("ALARM(arn:aws:sns:us-east-1:1:t)", "not an alarm ARN"),
])
def test_refused(text: str, fragment: str) -> None:
    with pytest.raises(alarmrule.RuleError, match=fragment):
        alarmrule.parse(text)
