"""The checkout command line: checked, with the password read from a file."""
from __future__ import annotations

from pathlib import Path

import pytest

from stack.local.ec2.checkout.config import ConfigError, parse

BASE = ["--instance-id", "i-0123456789abcdef0", "--region", "us-east-1", "--az", "us-east-1b",
        "--dns", "127.0.0.1:10053"]


def test_full_command_line(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    config = parse(["--uds", str(tmp_path / "s.sock"), *BASE, "--db-endpoint", "orders.x.rds.amazonaws.com",
                    "--db-user", "shop", "--db-password-file", str(password), "--source-address", "127.16.2.9"])
    assert config.listen.uds == tmp_path / "s.sock"
    assert config.database is not None and config.database.password == "s3cret"
    assert config.database.source_address == "127.16.2.9"
    assert config.database.application_name == "checkout-i-0123456789abcdef0"
    assert (config.dns_host, config.dns_port) == ("127.0.0.1", 10053)


@pytest.mark.parametrize(("extra", "message"), [
    (["--listen", "localhost:80"], "not an IPv4 host:port"),
    (["--listen", "127.0.0.1:99999"], "out of range"),
    (["--listen", "127.0.0.1:0", "--az", "eu-central-1a"], "not in Region"),
    (["--listen", "127.0.0.1:0", "--instance-id", "web-1"], "not an EC2 instance id"),
    (["--listen", "127.0.0.1:0", "--statement-timeout", "0"], "must be > 0"),
    (["--listen", "127.0.0.1:0", "--db-endpoint", "x.y", "--db-password-file", "/nonexistent/pw"], "cannot read"),
    (["--listen", "127.0.0.1:0", "--untraced-urls", "/health$,/ok("], r"--untraced-urls: '/health\$,/ok\(' is not comma-"),
])
def test_bad_command_lines_are_refused(extra: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse([*BASE, *extra])


def test_untraced_urls_default_to_the_health_check_or_otel_s_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_PYTHON_EXCLUDED_URLS", raising=False)
    assert parse([*BASE, "--listen", "127.0.0.1:0"]).untraced_urls == "/health$"
    monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "")
    assert parse([*BASE, "--listen", "127.0.0.1:0"]).untraced_urls == ""  # every request traced
    assert parse([*BASE, "--listen", "127.0.0.1:0", "--untraced-urls", "/ping"]).untraced_urls == "/ping"
    monkeypatch.setenv("OTEL_PYTHON_EXCLUDED_URLS", "[")
    with pytest.raises(ConfigError, match="OTEL_PYTHON_EXCLUDED_URLS: '\\[' is not comma-separated"):
        parse([*BASE, "--listen", "127.0.0.1:0"])
