"""docs/evidence.md's check without gameday, run exactly as written with the system's openssl and coreutils."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reports import manifest, signing
from tests.reports.conftest import only_pack, sign_with_moto_kms_p256

DOC = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("sha256sum") is None,
                                reason="needs openssl and sha256sum on PATH")


def recipe() -> str:
    match = re.search(r"<!-- auditor-recipe[^>]*-->\n```sh\n(.*?)\n```", DOC.read_text(), re.S)
    assert match, f"{DOC}: the auditor's recipe block is missing"
    return match.group(1)


def run(pack: Path, public_key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", recipe()], cwd=pack, env={"PATH": "/usr/bin:/bin", "PUBLIC_KEY": str(public_key)},
                          capture_output=True, text=True, timeout=60)


def test_the_documented_recipe_accepts_an_untouched_pack(signed_dir: Path, signing_key: tuple[Path, Path]) -> None:
    pack = only_pack(signed_dir / "out")
    result = run(pack, signing_key[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout
    assert result.stdout.count(": OK") == 4  # evidence.json, junit.xml, report.html, MANIFEST.sha256
    fingerprint = signing.load_public_key(signing_key[1])[1].removeprefix("SHA256:")
    assert f"pack signed by {fingerprint}" in result.stdout
    assert sorted(p.name for p in pack.iterdir()) == sorted(
        ["MANIFEST.sha256", "MANIFEST.dsse.json", "evidence.json", "junit.xml", "report.html"])  # nothing left behind


def test_the_documented_recipe_rejects_an_edited_pack(signed_dir: Path, signing_key: tuple[Path, Path]) -> None:
    pack = only_pack(signed_dir / "out")
    report = pack / "report.html"
    report.write_text(report.read_text().replace("SLO BREACHED", "PASSED"))
    manifest.write(pack, None)
    result = run(pack, signing_key[1])
    assert result.returncode != 0
    assert "report.html: FAILED" in result.stdout


def test_the_documented_recipe_rejects_a_re_signed_pack(signed_dir: Path, signing_key: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    pack = only_pack(signed_dir / "out")
    (pack / "junit.xml").write_text("<testsuites/>\n")
    manifest.write(pack, None)
    signing.keygen(tmp_path / "forger.pem", tmp_path / "forger.pub.pem")
    forger = signing.from_environment({signing.KEY_FILE_VARIABLE: str(tmp_path / "forger.pem")})
    assert forger is not None
    signing.sign(pack, forger, pack.name, None)
    assert run(pack, tmp_path / "forger.pub.pem").returncode == 0  # the recipe itself is sound...
    result = run(pack, signing_key[1])  # ...and only the team's key is the team's
    assert result.returncode != 0 and "Signature Verification Failure" in result.stdout + result.stderr


def test_the_documented_recipe_rejects_an_added_file(signed_dir: Path, signing_key: tuple[Path, Path]) -> None:
    pack = only_pack(signed_dir / "out")
    (pack / "waiver.pdf").write_text("approved\n")
    result = run(pack, signing_key[1])
    assert result.returncode != 0 and "> waiver.pdf" in result.stdout


def test_the_documented_ecdsa_variant_accepts_a_kms_p256_pack(reports_dir: Path, tmp_path: Path) -> None:
    """The docs' one-line change for an ECDSA P-256 KMS key (moto's KMS in process signs)."""
    pack = only_pack(reports_dir / "out")
    public = tmp_path / "kms.pub.pem"
    sign_with_moto_kms_p256(pack, public)
    line = re.search(r"^openssl pkeyutl -verify .*$", recipe(), re.M)
    variant = re.search(r"replace the `openssl pkeyutl` line with\n`(openssl dgst [^`]*)`", DOC.read_text())
    assert line and variant, "docs/evidence.md: the ECDSA variant is not where the test expects it"
    script = recipe().replace(line.group(0), variant.group(1))
    result = subprocess.run(["bash", "-c", script], cwd=pack, env={"PATH": "/usr/bin:/bin", "PUBLIC_KEY": str(public)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verified OK" in result.stdout
