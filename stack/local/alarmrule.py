"""A composite alarm's ``AlarmRule``: parse it once, then evaluate it against other alarms' states.

The grammar AWS documents for PutCompositeAlarm: the functions ``ALARM(x)``, ``OK(x)`` and
``INSUFFICIENT_DATA(x)``, where ``x`` is an alarm name in double quotes or an alarm ARN; the
constants ``TRUE`` and ``FALSE``; the operators ``NOT``, ``AND`` and ``OR`` (in that precedence) and
parentheses. Shared by the control plane (which rejects a rule it cannot parse) and the cloudwatch
part (which evaluates it), so it sits in the contract, not in either.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<arn>arn:[^\s()]+)'
                    r'|(?P<word>[A-Za-z_][A-Za-z0-9_]*))')


class RuleError(ValueError):
    """The AlarmRule cannot be parsed; the message says where and what was expected."""


@dataclass(frozen=True)
class Rule:
    """A parsed rule: an operator ("AND", "OR", "NOT", "STATE", "CONST") and its operands."""

    op: str
    args: tuple["Rule", ...] = ()
    state: str = ""  # for STATE: the state the alarm must be in
    alarm: str = ""  # for STATE: the alarm's name (an ARN is reduced to its name)
    value: bool = False  # for CONST

    def evaluate(self, state_of: Callable[[str], str | None]) -> bool:
        """Whether the rule holds, given each alarm's state (None: no such alarm, which matches no state)."""
        if self.op == "CONST":
            return self.value
        if self.op == "STATE":
            return state_of(self.alarm) == self.state
        if self.op == "NOT":
            return not self.args[0].evaluate(state_of)
        results = (arg.evaluate(state_of) for arg in self.args)
        return all(results) if self.op == "AND" else any(results)

    def alarms(self) -> set[str]:
        """The names of the alarms the rule reads."""
        found = {self.alarm} if self.op == "STATE" else set()
        for arg in self.args:
            found |= arg.alarms()
        return found


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise RuleError(f"AlarmRule: cannot read {text[position:position + 20]!r} at character {position + 1}")
        tokens.append(match.group(match.lastgroup or "word"))
        position = match.end()
    return tokens


def parse(text: str) -> Rule:
    """Parse ``text``. Raises RuleError naming what is wrong and where."""
    tokens = _tokens(text)
    if not tokens:
        raise RuleError("AlarmRule is empty; expected for example ALARM(\"name\") OR OK(\"other\")")
    rule, rest = _or(tokens)
    if rest:
        raise RuleError(f"AlarmRule: unexpected {rest[0]!r} after a complete expression")
    return rule


def _or(tokens: list[str]) -> tuple[Rule, list[str]]:
    left, rest = _and(tokens)
    args = [left]
    while rest and rest[0].upper() == "OR":
        right, rest = _and(rest[1:])
        args.append(right)
    return (left if len(args) == 1 else Rule("OR", tuple(args))), rest


def _and(tokens: list[str]) -> tuple[Rule, list[str]]:
    left, rest = _not(tokens)
    args = [left]
    while rest and rest[0].upper() == "AND":
        right, rest = _not(rest[1:])
        args.append(right)
    return (left if len(args) == 1 else Rule("AND", tuple(args))), rest


def _not(tokens: list[str]) -> tuple[Rule, list[str]]:
    if tokens and tokens[0].upper() == "NOT":
        inner, rest = _not(tokens[1:])
        return Rule("NOT", (inner,)), rest
    return _atom(tokens)


def _atom(tokens: list[str]) -> tuple[Rule, list[str]]:
    if not tokens:
        raise RuleError("AlarmRule ends where an expression was expected")
    head, rest = tokens[0], tokens[1:]
    if head == "(":
        inner, rest = _or(rest)
        if not rest or rest[0] != ")":
            raise RuleError("AlarmRule: a '(' is not closed")
        return inner, rest[1:]
    if head.upper() in ("TRUE", "FALSE"):
        return Rule("CONST", value=head.upper() == "TRUE"), rest
    if head in STATES:
        if len(rest) < 3 or rest[0] != "(" or rest[2] != ")":
            raise RuleError(f"AlarmRule: {head} takes one alarm, as {head}(\"name\") or {head}(arn)")
        return Rule("STATE", state=head, alarm=_alarm_name(rest[1])), rest[3:]
    raise RuleError(f"AlarmRule: unexpected {head!r}; expected ALARM(...), OK(...), INSUFFICIENT_DATA(...), "
                    f"TRUE, FALSE, NOT or '('")


def _alarm_name(token: str) -> str:
    if token.startswith('"'):
        token = token[1:-1].replace('\\"', '"')
    # arn:aws:cloudwatch:<region>:<account>:alarm:<name>
    if token.startswith("arn:"):
        parts = token.split(":", 6)
        if len(parts) != 7 or parts[5] != "alarm":
            raise RuleError(f"AlarmRule: {token!r} is not an alarm ARN (arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME)")
        return parts[6]
    if not token:
        raise RuleError("AlarmRule: an alarm name is empty")
    return token
