"""Keep secrets out of the evidence: values under sensitive keys, passwords in DSNs, AWS keys.

Three layers, because a secret can hide in a value, a key or free text (an error message quoting a
connection string):

1. structural: any value under a key that names a secret (password, secret, token, ...) is replaced,
   and the value is remembered;
2. textual: passwords in URLs and libpq strings, AWS access key ids, ``secret=...`` pairs;
3. every remembered value (plus the secrets in this process's environment) is replaced wherever it
   appears, and ``leaks`` scans finished files for them.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

MASK = "[REDACTED]"
_SENSITIVE_KEY = re.compile(r"pass(word|wd|phrase)?$|secret|token|credential|private_?key|api_?key|authorization|cookie|"
                            r"session_key", re.IGNORECASE)
# Where a secret is, not what it is: a secret's id, ARN, name or Region (``secret_id``, ``SecretArn``,
# ``secret_region``). Masking those would also mask every other use of the value ("us-east-1").
_LOCATOR_KEY = re.compile(r"(_?(id|ids|arn|name|region|regions|ref|path|file|variable))$", re.IGNORECASE)


def _sensitive(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(key)) and not _LOCATOR_KEY.search(key)
_TEXT_PATTERNS = (
    # scheme://user:password@host -> keep the user, hide the password
    (re.compile(r"(?P<keep>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)", re.IGNORECASE), r"\g<keep>" + MASK),
    # libpq / ODBC key=value strings and KEY=value assignments
    (re.compile(r"(?P<keep>\b[\w-]*(?:password|passwd|pwd|secret|token|secret_access_key)[\w-]*\s*[=:]\s*['\"]?)"
                r"[^\s'\";,&]+", re.IGNORECASE), r"\g<keep>" + MASK),
    # AWS access key ids (the secret key has no fixed shape; it is caught by key name or by value)
    (re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"(?P<keep>\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\g<keep>" + MASK),
)
_ENVIRONMENT_SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD", "GAMEDAY_SECRET",
                        "GAMEDAY_SIGNING_KEY")  # the last: the evidence signing key's PEM text (reports.signing)
_MIN_SECRET_LEN = 6  # shorter values would redact ordinary words; "test"-style dummy secrets are not secrets


@dataclass
class Redactor:
    known: set[str] = field(default_factory=set)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "Redactor":
        environ = dict(os.environ) if environ is None else environ
        return cls({value for name in _ENVIRONMENT_SECRETS if len(value := environ.get(name, "")) >= _MIN_SECRET_LEN})

    def remember(self, value: Any) -> None:
        if isinstance(value, str) and len(value) >= _MIN_SECRET_LEN and value != MASK:
            self.known.add(value)
            # a DSN under a sensitive key: its password alone may also appear elsewhere
            for match in re.finditer(r"://[^/\s:@]*:([^@\s/]+)@", value):
                if len(match.group(1)) >= _MIN_SECRET_LEN:
                    self.known.add(match.group(1))

    def collect(self, data: Any, key: str = "") -> None:
        """First pass: remember every value under a sensitive key, so pass two hides it everywhere."""
        if isinstance(data, dict):
            for name, value in data.items():
                self.collect(value, str(name))
        elif isinstance(data, (list, tuple)):
            for value in data:
                self.collect(value, key)
        elif key and _sensitive(key):
            self.remember(data)
        # settings rows are {name, value}: the secret's name is a value, not a key
        if isinstance(data, dict) and isinstance(data.get("name"), str) and _sensitive(data["name"]):
            self.remember(data.get("value"))

    def text(self, value: str) -> str:
        for secret in sorted(self.known, key=len, reverse=True):
            value = value.replace(secret, MASK)
        for pattern, replacement in _TEXT_PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def data(self, data: Any, key: str = "") -> Any:
        """A copy of ``data`` with secrets masked (call ``collect`` first to catch repeats elsewhere)."""
        if isinstance(data, dict):
            masked = {str(k): self.data(v, str(k)) for k, v in data.items()}
            if isinstance(masked.get("name"), str) and _sensitive(masked["name"]) and "value" in masked:
                masked["value"] = MASK
            return masked
        if isinstance(data, (list, tuple)):
            return [self.data(v, key) for v in data]
        if key and _sensitive(key) and isinstance(data, str) and data:
            return MASK
        if isinstance(data, str):
            return self.text(data)
        return data

    def document(self, data: dict[str, Any]) -> dict[str, Any]:
        self.collect(data)
        masked: dict[str, Any] = self.data(data)
        return masked

    def leaks(self, paths: Iterable[Path]) -> list[str]:
        """Every file where a remembered secret still appears verbatim, once per secret.

        The message names the file and the secret's length, never any of its characters: it is printed
        and may be logged.
        """
        found = []
        for path in paths:
            content = path.read_bytes()
            for secret in sorted(self.known, key=len):
                if secret.encode() in content:
                    found.append(f"{path.name}: contains a secret ({len(secret)} characters) that redaction missed")
        return found


class RedactingFormatter(logging.Formatter):
    """A log formatter that masks secrets in the whole line, traceback included (an exception's message
    can quote a connection string or a request's parameters)."""

    def __init__(self, fmt: str | None = None, redactor: Redactor | None = None) -> None:
        super().__init__(fmt)
        self.redactor = redactor or Redactor.from_environment()

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.text(super().format(record))
