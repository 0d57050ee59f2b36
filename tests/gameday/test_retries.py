"""AWS_MAX_ATTEMPTS and AWS_RETRY_MODE win over gameday's retry defaults, as in every AWS SDK."""
from __future__ import annotations

import socket
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from environments import loader
from gameday import target
from base.errors import SettingsError
from base.retries import retries


def _refusing_environment() -> Any:
    """The local environment with its endpoint on a port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    local = loader.load("local")
    return local.model_copy(update={"local": local.local.model_copy(update={"aws_endpoint_port": port})})


def _attempts(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> tuple[int, dict[str, Any]]:
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    client = target.for_environment(_refusing_environment(), 0).clients("sts", "us-east-1")
    sent: list[str] = []
    client.meta.events.register("before-send", lambda **kwargs: sent.append("attempt"))
    with pytest.raises(EndpointConnectionError):
        client.get_caller_identity()
    return len(sent), dict(client.meta.config.retries)


def test_the_environment_sets_attempts_and_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    count, config = _attempts(monkeypatch, {"AWS_MAX_ATTEMPTS": "2", "AWS_RETRY_MODE": "legacy"})
    assert count == 2
    assert config == {"total_max_attempts": 2, "mode": "legacy"}


def test_without_the_variables_gameday_s_defaults_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    count, config = _attempts(monkeypatch, {"AWS_MAX_ATTEMPTS": "1"})
    assert count == 1 and config["mode"] == "standard"  # the mode was not set: ours
    assert retries(4, environ={}) == {"total_max_attempts": 4, "mode": "standard"}


def test_bad_values_are_named_together() -> None:
    with pytest.raises(SettingsError) as raised:
        retries(4, environ={"AWS_MAX_ATTEMPTS": "zero", "AWS_RETRY_MODE": "eager"})
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("AWS_MAX_ATTEMPTS: 'zero' is not allowed") and "legacy, standard, adaptive" in lines[1]
