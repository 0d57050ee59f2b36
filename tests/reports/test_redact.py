"""Nothing sensitive is written: a secret in a timeline, a setting or an error is masked in every file of the pack."""
from __future__ import annotations

from pathlib import Path

import pytest

from reports import evidence
from base.redact import MASK, Redactor
from tests.reports import synthetic
from tests.reports.conftest import ACCESS_KEY_ID, SECRET_AWS_KEY, SECRET_DSN, SECRET_PASSWORD


def test_a_pack_from_results_holding_secrets_contains_none_of_them(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "pg-env-Passw0rd")
    run = synthetic.run(
        secret_note=SECRET_DSN,
        settings_extra={"aws_secret_access_key": (SECRET_AWS_KEY, "environment"),
                        "database_url": (SECRET_DSN, "ini"),
                        "endpoint_note": (f"using {ACCESS_KEY_ID} and password=pg-env-Passw0rd", "option")},
        scenarios=(synthetic.multi_az_failover(SECRET_DSN),))
    pack = evidence.write_pack(run, tmp_path / "out", tmp_path / "history.jsonl")
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"evidence.json", "report.html", "junit.xml", "MANIFEST.sha256", "history.jsonl"}
    for path in files:
        content = path.read_text(errors="replace")
        for secret in (SECRET_PASSWORD, SECRET_AWS_KEY, ACCESS_KEY_ID, "pg-env-Passw0rd"):
            assert secret not in content, f"{path.name} leaks {secret[:4]}…"
    evidence_text = (pack.directory / "evidence.json").read_text()
    assert "postgresql://orders_app:[REDACTED]@orders.cluster-x" in evidence_text  # the rest stays readable
    assert MASK in (pack.directory / "report.html").read_text()
    assert evidence.verify(pack.directory).ok


@pytest.mark.parametrize("text, expected", [
    ("postgresql://app:hunter22@db:5432/orders", "postgresql://app:[REDACTED]@db:5432/orders"),
    ("host=db user=app password=hunter22 dbname=orders", "host=db user=app password=[REDACTED] dbname=orders"),
    ("AWS_SECRET_ACCESS_KEY=abc/def+ghi", "AWS_SECRET_ACCESS_KEY=[REDACTED]"),
    (f"key {ACCESS_KEY_ID} denied", f"key {MASK} denied"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y", "Authorization: Bearer [REDACTED]"),
    ("http://127.16.1.10:8080/health", "http://127.16.1.10:8080/health"),
    ("RTO 215 s > 180 s SLO: checkout from frankfurt failed", "RTO 215 s > 180 s SLO: checkout from frankfurt failed"),
])
def test_text_patterns(text: str, expected: str) -> None:
    assert Redactor().text(text) == expected


def test_a_value_under_a_secret_key_is_masked_wherever_it_reappears() -> None:
    masked = Redactor().document({"params": {"MasterUserPassword": "pa55-w0rd-x"},
                                  "log": "retrying with pa55-w0rd-x", "passed": True})
    assert masked == {"params": {"MasterUserPassword": MASK}, "log": f"retrying with {MASK}", "passed": True}


def test_where_a_secret_is_kept_is_not_a_secret() -> None:
    # runbook.promote_replica names the master secret by id and Region: masking those masked "us-east-1"
    # everywhere in the pack, titles included.
    masked = Redactor().document({"params": {"secret_id": "securecart/orders/master", "secret_region": "us-east-1",
                                             "SecretName": "orders-master", "secret_string": "pa55-w0rd-x"},
                                  "title": "Lose us-east-1: users fail over", "log": "pa55-w0rd-x"})
    assert masked == {"params": {"secret_id": "securecart/orders/master", "secret_region": "us-east-1",
                                 "SecretName": "orders-master", "secret_string": MASK},
                      "title": "Lose us-east-1: users fail over", "log": MASK}


def test_a_leak_past_redaction_stops_the_pack(tmp_path: Path) -> None:
    redactor = Redactor({"never-write-me"})
    (tmp_path / "a.txt").write_text("... never-write-me ...")
    leaks = redactor.leaks([tmp_path / "a.txt"])
    assert leaks == ["a.txt: contains a secret (14 characters) that redaction missed"]
    assert not any(part in leaks[0] for part in ("nev", "never", "write")), "the report must not quote the secret"
