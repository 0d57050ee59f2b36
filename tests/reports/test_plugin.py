"""The reports plugin end to end: Allure steps, attachments, labels, categories; the pack; xdist spooling."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reports import allure_results, evidence

pytest_plugins = ["pytester"]
EXPERIMENTS = """
    import pytest
    from tests.reports import synthetic

    @pytest.mark.failover
    def test_multi_az(evidence):
        result = synthetic.multi_az_failover()
        evidence.submit(result)
        assert result.verdict.passed, "; ".join(result.verdict.messages)

    @pytest.mark.az_outage
    def test_az_outage(evidence):
        result = synthetic.az_outage()
        evidence.submit(result)
        assert result.verdict.passed, "; ".join(result.verdict.messages)
"""


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest('pytest_plugins = ["gameday.plugin", "gameday.evidence_plugin"]\n')
    pytester.makepyfile(test_experiments=EXPERIMENTS)
    return pytester


def _allure_results(directory: Path) -> dict[str, dict[str, Any]]:
    results = [json.loads(p.read_text()) for p in directory.glob("*-result.json")]
    return {r["name"]: r for r in results}


def test_allure_artefacts_and_the_pack(tester: pytest.Pytester, tmp_path: Path) -> None:
    alluredir, out = tmp_path / "allure-results", tmp_path / "reports" / "out"
    result = tester.runpytest(f"--alluredir={alluredir}", f"--gameday-evidence-dir={out}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*gameday evidence*", "*FAILED  1 of 2 scenarios passed*", "report:*report.html"])

    by_name = _allure_results(alluredir)
    passed = by_name["test_multi_az"]
    assert [s["name"] for s in passed["steps"]] == list(allure_results.PHASES)
    inject = passed["steps"][1]
    assert [s["name"] for s in inject["steps"]][:2] == ["api_call: DescribeDBInstances",
                                                        "fault_injected: rds.reboot_with_failover"]
    assert inject["start"] < inject["stop"] and passed["steps"][0]["start"] < inject["start"]
    attachments = {a["name"]: a for a in passed["attachments"]}
    assert {"timeline chart", "samples", "timeline", "API calls of rds.reboot_with_failover", "verdict"} <= set(attachments)
    assert attachments["timeline chart"]["type"] == "image/png"
    assert (alluredir / attachments["timeline chart"]["source"]).read_bytes()[:4] == b"\x89PNG"
    labels = {(label["name"], label["value"]) for label in passed["labels"]}
    assert {("epic", allure_results.EPIC), ("feature", "Failover"), ("severity", "critical"),
            ("story", "Lab 3: Multi-AZ RDS reboot with failover, under orders")} <= labels
    assert passed["links"][0]["url"] == "docs/runbooks.md#multi-az-failover"
    assert by_name["test_az_outage"]["status"] == "failed"
    assert "SLO" in by_name["test_az_outage"]["statusDetails"]["message"]

    categories = json.loads((alluredir / "categories.json").read_text())
    assert [c["name"] for c in categories] == ["Infrastructure unavailable", "SLO breached", "Experiment broken"]
    properties = (alluredir / "environment.properties").read_text()
    assert "environment=local\n" in properties and "account=123456789012\n" in properties and "code.commit=" in properties

    (pack,) = [p for p in out.iterdir() if evidence.RUN_ID.match(p.name)]
    document = json.loads((pack / "evidence.json").read_text())
    assert [s["scenario"] for s in document["scenarios"]] == ["multi_az_failover", "az_outage"]
    assert evidence.verify(pack).ok
    assert (out.parent / "history.jsonl").is_file()


def test_categories_are_mutually_exclusive() -> None:
    import re

    def category(message: str) -> list[str]:
        return [str(c["name"]) for c in allure_results.CATEGORIES
                if re.fullmatch(str(c["messageRegex"]).replace("(?s)", ""), message, re.S)]

    assert category("AssertionError: RTO 215 s > 180 s SLO: checkout from virginia failed") == ["SLO breached"]
    assert category("StackNotRunning: no local stack is running for instance 1") == ["Infrastructure unavailable"]
    assert category("KeyError: 'DBInstances'") == ["Experiment broken"]


def test_xdist_workers_spool_and_the_controller_writes_one_pack(tester: pytest.Pytester, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))  # the subprocess imports tests.reports
    out = tmp_path / "reports" / "out"
    tester.makepyfile(test_experiments="""
        from tests.reports import synthetic

        def test_one(evidence):
            evidence.submit(synthetic.broken_region_evacuation())

        def test_two(evidence):
            result = synthetic.broken_region_evacuation()
            evidence.submit(result)
            raise AssertionError(result.error)
    """)
    result = tester.runpytest_subprocess("-n", "2", f"--gameday-evidence-dir={out}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    packs = [p for p in out.iterdir() if evidence.RUN_ID.match(p.name)]
    assert len(packs) == 1
    document = json.loads((packs[0] / "evidence.json").read_text())
    assert [s["scenario"] for s in document["scenarios"]] == ["region_evacuation"] * 2
    assert not (out / ".spool").exists()


def test_a_session_without_scenarios_writes_nothing(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeconftest('pytest_plugins = ["gameday.plugin", "gameday.evidence_plugin"]\n')
    pytester.makepyfile("def test_plain(): pass\n")
    pytester.runpytest(f"--gameday-evidence-dir={tmp_path / 'out'}").assert_outcomes(passed=1)
    assert not (tmp_path / "out").exists()


def test_the_pack_is_signed_and_gets_the_findings_beside_the_environment(
        tester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signing_key: tuple[Path, Path]) -> None:
    from environments import loader
    from reports import signing

    environments = tmp_path / "envs"
    (environments / "findings").mkdir(parents=True)
    (environments / "lab.yaml").write_text(loader.resolve("local").read_text())
    (environments / "findings" / "lab.yaml").write_text(
        "findings:\n  - {id: DR-9, scenario: az_outage, deficiency: lost_orders, owner: Orders team,"
        " remediation: synchronous commit, due: 2030-01-31}\n")
    monkeypatch.setenv(signing.KEY_FILE_VARIABLE, str(signing_key[0]))
    out = tmp_path / "reports" / "out"
    result = tester.runpytest(f"--gameday-evidence-dir={out}", f"--env={environments / 'lab.yaml'}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    (pack,) = [p for p in out.iterdir() if evidence.RUN_ID.match(p.name)]
    assert evidence.verify(pack, key=signing_key[1]).ok
    after_action = json.loads((pack / "evidence.json").read_text())["after_action"]
    assert after_action["findings_file"] == str(environments / "findings" / "lab.yaml")
    lost = next(d for d in after_action["deficiencies"] if d["kind"] == "lost_orders")
    assert lost["finding"]["owner"] == "Orders team" and lost["finding"]["due"] == "2030-01-31"


def test_a_bad_findings_file_or_key_stops_the_session_before_any_test(
        tester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from environments import loader
    from reports import signing

    environments = tmp_path / "envs"
    (environments / "findings").mkdir(parents=True)
    (environments / "lab.yaml").write_text(loader.resolve("local").read_text())
    (environments / "findings" / "lab.yaml").write_text("findings:\n  - {id: DR-9, scenario: az_outage}\n")
    out = tmp_path / "reports" / "out"
    result = tester.runpytest(f"--gameday-evidence-dir={out}", f"--env={environments / 'lab.yaml'}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{environments / 'findings' / 'lab.yaml'}: findings[[]0[]].deficiency: required but missing*"])
    assert not out.exists()
    (environments / "findings" / "lab.yaml").unlink()
    monkeypatch.setenv(signing.KEY_VARIABLE, "not a key")
    result = tester.runpytest(f"--gameday-evidence-dir={out}", f"--env={environments / 'lab.yaml'}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*$GAMEDAY_SIGNING_KEY: not an unencrypted PEM private key*"])


@pytest.mark.parametrize("under", ["", "sub"], ids=["a file", "a path under a file"])
def test_an_evidence_dir_that_cannot_be_one_stops_the_session_before_any_test(under: str, tester: pytest.Pytester,
                                                                              tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a directory\n")
    out = afile / under if under else afile
    result = tester.runpytest(f"--gameday-evidence-dir={out}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # before, every experiment ran, then "the pack was not written"
    where = f"is under {afile}, which is a file" if under else "is a file"
    result.stderr.fnmatch_lines([f"*--gameday-evidence-dir {out}: {where}; give a directory*"])
    assert "passed" not in result.stdout.str() and afile.read_text() == "not a directory\n"


def test_an_evidence_dir_that_does_not_exist_yet_is_made(tester: pytest.Pytester, tmp_path: Path) -> None:
    out = tmp_path / "new" / "reports" / "out"
    tester.runpytest(f"--gameday-evidence-dir={out}", "-p", "no:cacheprovider").assert_outcomes(passed=1, failed=1)
    assert len([p for p in out.iterdir() if evidence.RUN_ID.match(p.name)]) == 1


def test_a_kms_key_that_cannot_be_used_stops_the_session(tester: pytest.Pytester, tmp_path: Path) -> None:
    # whether the local stack's KMS answers "not found" or nothing listens, the run stops before any test
    out = tmp_path / "reports" / "out"
    result = tester.runpytest(f"--gameday-evidence-dir={out}", "--signing-kms-key-id=alias/gameday-test-absent",
                              "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--signing-kms-key-id alias/gameday-test-absent: KMS GetPublicKey failed*"])
    assert not out.exists()


def test_a_failed_signature_keeps_the_pack_and_fails_the_run(tester: pytest.Pytester, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             signing_key: tuple[Path, Path]) -> None:
    from reports import signing

    def throttled(*_: object) -> None:  # what KmsSigner raises when KMS Sign is throttled past botocore's retries
        raise signing.SigningError("GAMEDAY_SIGNING_KMS_KEY_ID=alias/k: KMS Sign failed: ThrottlingException")

    monkeypatch.setenv(signing.KEY_FILE_VARIABLE, str(signing_key[0]))
    monkeypatch.setattr(signing, "sign", throttled)
    out = tmp_path / "reports" / "out"
    result = tester.runpytest(f"--gameday-evidence-dir={out}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["gameday: the evidence pack * is UNSIGNED: *KMS Sign failed: ThrottlingException*",
                                 "*gameday evidence*", "signed:   NO: signing with SHA256:* failed: *"])
    (pack,) = [p for p in out.iterdir() if evidence.RUN_ID.match(p.name)]
    assert evidence.verify(pack).ok and not (pack / signing.ENVELOPE).exists()
