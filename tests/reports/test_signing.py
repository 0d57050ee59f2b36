"""Signed packs: an edit made without the private key fails `verify --key`, whatever else the editor rewrites."""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gameday import cli
from base import exitcodes
from reports import evidence, history, manifest, signing
from tests.reports.conftest import only_pack, sign_with_moto_kms_p256


def forge(reports_dir: Path, edit: Callable[[dict[str, Any]], None], history_too: str = "remove") -> Path:
    """The issue's attack: edit evidence.json, recompute MANIFEST.sha256, then remove or rewrite history.jsonl."""
    pack = only_pack(reports_dir / "out")
    path = pack / "evidence.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document, indent=2))
    digest = manifest.write(pack, None)
    history_path = reports_dir / "history.jsonl"
    if history_too == "remove":
        history_path.unlink()
    else:  # rewrite: the line the run wrote, with the forged manifest's hash and verdicts
        records = [dict(r) for r in history.read(history_path).records]
        history_path.unlink()
        for record in records:
            history.append(history_path, {**record, "manifest_sha256": digest, "passed_all": document["summary"]["passed_all"]})
    return pack


def better_rto(document: dict[str, Any]) -> None:
    document["scenarios"][0]["verdict"]["rto"]["aws_s"] = 1.0  # consistent with itself: only the key can tell


def test_an_untouched_signed_pack_verifies_with_its_key(signed_root: Path, signing_key: tuple[Path, Path]) -> None:
    pack = only_pack(signed_root / "out")
    _, fingerprint = signing.load_public_key(signing_key[1])
    assert (pack / signing.ENVELOPE).is_file()
    result = evidence.verify(pack, key=signing_key[1])
    assert result.ok, result.message
    assert result.message.splitlines()[0].endswith(f"signed by {fingerprint}")
    assert f"{pack.name}: signature by {fingerprint} is valid" in result.notes
    envelope = json.loads((pack / signing.ENVELOPE).read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == {
        name: manifest.sha256(pack / name) for name in ("MANIFEST.sha256", "evidence.json", "junit.xml", "report.html")}
    assert envelope["signatures"][0]["keyid"] == fingerprint.removeprefix("SHA256:")


@pytest.mark.parametrize("history_too", ["remove", "rewrite"])
def test_the_rewrite_from_the_issue_fails(signed_dir: Path, signing_key: tuple[Path, Path], history_too: str) -> None:
    pack = forge(signed_dir, better_rto, history_too)
    unkeyed = evidence.verify(pack)  # the signed subjects give the edit away even without the key
    assert any("changed after signing: evidence.json" in p for p in unkeyed.problems), unkeyed.message
    assert any("signature NOT checked" in w for w in unkeyed.warnings)
    if history_too == "remove":
        assert any(w.startswith("history not cross-checked") for w in unkeyed.warnings), unkeyed.message
    keyed = evidence.verify(pack, key=signing_key[1])
    assert not keyed.ok
    assert any("changed after signing: evidence.json" in p for p in keyed.problems), keyed.message
    assert any("changed after signing: MANIFEST.sha256" in p for p in keyed.problems), keyed.message


def test_a_removed_signature_fails_with_or_without_the_key(signed_dir: Path, signing_key: tuple[Path, Path]) -> None:
    pack = forge(signed_dir, better_rto)
    (pack / signing.ENVELOPE).unlink()
    unkeyed = evidence.verify(pack)  # evidence.json (and the report's cover) still name the key
    assert not unkeyed.ok
    assert any(p.startswith(f"{pack.name}: signature removed: evidence.json names signing key SHA256:")
               for p in unkeyed.problems), unkeyed.message
    assert cli.main(["verify", str(pack)]) == exitcodes.TAMPERED
    result = evidence.verify(pack, key=signing_key[1])
    assert not result.ok and "unsigned: MANIFEST.dsse.json is missing" in result.message
    assert any("signature removed" in p for p in result.problems)


def test_a_removed_signature_and_rewritten_signing_fail_against_history(signed_dir: Path,
                                                                      signing_key: tuple[Path, Path]) -> None:
    _, fingerprint = signing.load_public_key(signing_key[1])
    assert history.read(signed_dir / "history.jsonl").records[-1]["signing_key_fingerprint"] == fingerprint

    def unsigned(document: dict[str, Any]) -> None:
        better_rto(document)
        document["run"]["signing"] = None  # the forger also says the pack was never signed

    pack = forge(signed_dir, unsigned, history_too="rewrite")
    (pack / signing.ENVELOPE).unlink()
    result = evidence.verify(pack)
    assert any(f"history.jsonl recorded the pack as signed by {fingerprint}, evidence.json says unsigned" in p
               for p in result.problems), result.message


def test_a_pack_re_signed_with_another_key_fails(signed_dir: Path, signing_key: tuple[Path, Path], tmp_path: Path) -> None:
    pack = forge(signed_dir, better_rto)
    signing.keygen(tmp_path / "forger.pem", tmp_path / "forger.pub.pem")
    forger = signing.from_environment({signing.KEY_FILE_VARIABLE: str(tmp_path / "forger.pem")})
    assert forger is not None
    signing.sign(pack, forger, pack.name, None)
    assert evidence.verify(pack, key=tmp_path / "forger.pub.pem").ok  # the forger's own key vouches for it...
    result = evidence.verify(pack, key=signing_key[1])  # ...the team's does not
    assert not result.ok and any("bad signature" in p for p in result.problems), result.message


def test_an_added_file_and_an_edited_envelope_fail(signed_dir: Path, signing_key: tuple[Path, Path]) -> None:
    pack = only_pack(signed_dir / "out")
    (pack / "notes.txt").write_text("added later\n")
    manifest.write(pack, None)
    result = evidence.verify(pack, key=signing_key[1])
    assert any("notes.txt is not among the signed subjects" in p for p in result.problems), result.message
    envelope = json.loads((pack / signing.ENVELOPE).read_text())
    envelope["payloadType"] = "text/plain"
    (pack / signing.ENVELOPE).write_text(json.dumps(envelope))
    assert any("bad signature" in p for p in evidence.verify(pack, key=signing_key[1]).problems)


def test_the_cover_shows_the_fingerprint_or_unsigned(signed_root: Path, pack_root: Path,
                                                     signing_key: tuple[Path, Path]) -> None:
    _, fingerprint = signing.load_public_key(signing_key[1])
    signed = (only_pack(signed_root / "out") / "report.html").read_text()
    cover = signed[:signed.index("<h2>")]
    assert f"<dt>Signed by</dt><dd><span class=\"mono\">{fingerprint}</span>" in cover
    unsigned = (only_pack(pack_root / "out") / "report.html").read_text()
    assert "<dt>Signed by</dt><dd><span class=\"bad\">unsigned</span>" in unsigned
    evidence_json = json.loads((only_pack(signed_root / "out") / "evidence.json").read_text())
    assert evidence_json["run"]["signing"]["key_fingerprint"] == fingerprint


def test_the_key_can_come_from_a_variable(signing_key: tuple[Path, Path]) -> None:
    from_file = signing.from_environment({signing.KEY_FILE_VARIABLE: str(signing_key[0])})
    from_text = signing.from_environment({signing.KEY_VARIABLE: signing_key[0].read_text()})
    assert from_file is not None and from_text is not None
    assert from_file.fingerprint == from_text.fingerprint == signing.load_public_key(signing_key[1])[1]
    assert signing.from_environment({}) is None  # no key: an unsigned pack


def test_bad_keys_are_refused_with_a_clear_error(tmp_path: Path, signing_key: tuple[Path, Path]) -> None:
    readable = tmp_path / "readable.pem"
    readable.write_bytes(signing_key[0].read_bytes())
    os.chmod(readable, 0o644)
    with pytest.raises(signing.SigningError, match=r"GAMEDAY_SIGNING_KEY_FILE=.*readable.pem: mode 0644 lets others"):
        signing.from_environment({signing.KEY_FILE_VARIABLE: str(readable)})
    with pytest.raises(signing.SigningError, match=r"GAMEDAY_SIGNING_KEY_FILE=.*nowhere.pem: cannot read"):
        signing.from_environment({signing.KEY_FILE_VARIABLE: str(tmp_path / "nowhere.pem")})
    with pytest.raises(signing.SigningError, match=r"\$GAMEDAY_SIGNING_KEY: not an unencrypted PEM private key"):
        signing.from_environment({signing.KEY_VARIABLE: "not a key"})
    ecdsa = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(signing.SigningError, match="allowed: an Ed25519 private key"):
        signing.from_environment({signing.KEY_VARIABLE: ecdsa})
    with pytest.raises(signing.SigningError, match=r"--key .*signing.pem: not a PEM public key"):
        signing.load_public_key(signing_key[0])  # the private key given by mistake
    with pytest.raises(signing.SigningError, match="exists already"):
        signing.keygen(signing_key[0], tmp_path / "x.pub.pem")



@pytest.mark.parametrize("public", ["team.pem", "sub/../team.pem", "./team.pem"])
def test_keygen_refuses_a_public_key_that_is_the_private_key(public: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["keygen", "team.pem", "--public-key", public]) == exitcodes.USAGE
    error = capsys.readouterr().err
    assert f"the private key team.pem and --public-key {Path(public)} are the same file" in error
    assert list(tmp_path.iterdir()) == []  # before, team.pem held the public key: the private one was gone


def test_keygen_into_a_missing_directory_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, public = tmp_path / "team.pem", tmp_path / "nodir" / "team.pub.pem"
    assert cli.main(["keygen", str(private), "--public-key", str(public)]) == exitcodes.USAGE
    assert f"--public-key {public}: its directory {public.parent} does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # not the private key without its public one
    assert cli.main(["keygen", str(tmp_path / "nodir" / "team.pem")]) == exitcodes.USAGE
    assert f"the private key {tmp_path}/nodir/team.pem: its directory" in capsys.readouterr().err
    assert cli.main(["keygen", str(private), "--public-key", str(tmp_path / "team.pub.pem")]) == exitcodes.OK  # a re-run


def test_keygen_that_cannot_write_the_public_key_leaves_neither(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_link = os.link

    def full_disk(source: str, target: str) -> None:
        if str(target).endswith(".pub.pem"):
            raise OSError(28, "No space left on device", str(target))
        real_link(source, target)
    monkeypatch.setattr(os, "link", full_disk)
    with pytest.raises(signing.SigningError, match=r"cannot write .*team.pub.pem: No space left on device; no key"):
        signing.keygen(tmp_path / "team.pem", tmp_path / "team.pub.pem")
    assert list(tmp_path.iterdir()) == []  # no key, no temporary file

def test_kms_signs_with_a_p256_key(reports_dir: Path, tmp_path: Path) -> None:
    """AWS KMS Sign (moto's KMS, in process): the pack verifies with the public key KMS gives out."""
    pack = only_pack(reports_dir / "out")
    public = tmp_path / "kms.pub.pem"
    method, key_id = sign_with_moto_kms_p256(pack, public)
    assert method == f"AWS KMS key {key_id} (ECDSA_SHA_256)"
    assert evidence.verify(pack, key=public).ok
    (pack / "junit.xml").write_text("<testsuites/>\n")
    assert not evidence.verify(pack, key=public).ok


def test_kms_ed25519_is_pure_ed25519_over_the_raw_message(reports_dir: Path, tmp_path: Path) -> None:
    """KMS keys of spec ECC_NIST_EDWARDS25519 sign with ED25519_SHA_512 and MessageType RAW (botocore's KMS model).

    moto has no Ed25519 keys, so botocore's Stubber checks each request against the KMS service model
    and the expected parameters, and the test's own Ed25519 key stands in for the one inside KMS.
    """
    import boto3
    from botocore.stub import Stubber

    key = ed25519.Ed25519PrivateKey.generate()
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    client = boto3.client("kms", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x")
    pack = only_pack(reports_dir / "out")
    payload = signing.statement(pack, pack.name, None)
    pae = b"DSSEv1 %d %b %d %b" % (len(signing.PAYLOAD_TYPE), signing.PAYLOAD_TYPE.encode(), len(payload), payload)
    with Stubber(client) as stub:
        stub.add_response("get_public_key", {"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY",
                                             "PublicKey": der, "SigningAlgorithms": ["ED25519_SHA_512"]},
                          {"KeyId": "alias/gameday-evidence"})
        stub.add_response("sign", {"Signature": key.sign(pae), "SigningAlgorithm": "ED25519_SHA_512", "KeyId": "k"},
                          {"KeyId": "alias/gameday-evidence", "Message": pae, "MessageType": "RAW",
                           "SigningAlgorithm": "ED25519_SHA_512"})
        signer = signing.from_environment({signing.KMS_VARIABLE: "alias/gameday-evidence"}, kms_client=lambda _: client)
        assert signer is not None
        signing.sign(pack, signer, pack.name, None)
        stub.assert_no_pending_responses()
    public = tmp_path / "kms.pub.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    assert evidence.verify(pack, key=public).ok


def test_a_kms_key_of_another_spec_is_refused() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        key_id = client.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
        with pytest.raises(signing.SigningError, match=f"GAMEDAY_SIGNING_KMS_KEY_ID={key_id}: KMS key spec RSA_2048"):
            signing.from_environment({signing.KMS_VARIABLE: key_id}, kms_client=lambda _: client)


def test_cli_keygen_and_verify_exit_codes(signed_dir: Path, signing_key: tuple[Path, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keygen", str(tmp_path / "team.pem")]) == exitcodes.OK
    assert (tmp_path / "team.pem").stat().st_mode & 0o777 == 0o600
    assert "fingerprint SHA256:" in capsys.readouterr().out
    pack = only_pack(signed_dir / "out")
    assert cli.main(["verify", "--key", str(signing_key[1]), str(pack)]) == exitcodes.OK
    assert cli.main(["verify", "--key", str(tmp_path / "team.pem.pub.pem"), str(pack)]) == exitcodes.TAMPERED
    capsys.readouterr()
    with pytest.raises(SystemExit) as missing:  # an argument error, as argparse reports one
        cli.main(["verify", str(tmp_path / "no-such-pack")])
    assert missing.value.code == exitcodes.USAGE
    assert "no-such-pack' is not a directory" in capsys.readouterr().err
    assert cli.main(["verify", "--key", str(tmp_path / "missing.pub.pem"), str(pack)]) == exitcodes.USAGE
    assert "--key" in capsys.readouterr().err
    forge(signed_dir, better_rto)
    (pack / signing.ENVELOPE).unlink()
    assert cli.main(["verify", str(pack)]) == exitcodes.TAMPERED  # evidence.json still names the key
    (signed_dir / "history.jsonl").touch()  # forge removes it again
    forge(signed_dir, lambda document: document["run"].update(signing=None))
    assert cli.main(["verify", str(pack)]) == exitcodes.OK  # unsigned, and consistent: only the key tells
    assert cli.main(["verify", "--key", str(signing_key[1]), str(pack)]) == exitcodes.TAMPERED
    assert exitcodes.TAMPERED not in (exitcodes.OK, exitcodes.FAILED, exitcodes.USAGE, exitcodes.UNREACHABLE)


def test_the_signing_key_in_the_environment_is_a_secret_to_redact(signing_key: tuple[Path, Path]) -> None:
    from base.redact import MASK, Redactor

    pem = signing_key[0].read_text()
    redactor = Redactor.from_environment({signing.KEY_VARIABLE: pem})
    assert pem not in redactor.text(f"note: key was {pem}") and MASK in redactor.text(pem)


def test_a_kms_key_that_cannot_be_reached_is_a_clear_error() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        with pytest.raises(signing.SigningError, match="--signing-kms-key-id alias/nope: KMS GetPublicKey failed: .*NotFound"):
            signing.from_kms(client, "alias/nope", "--signing-kms-key-id alias/nope")


def test_a_garbled_envelope_or_an_rsa_key_is_named(signed_dir: Path, signing_key: tuple[Path, Path], tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    pack = only_pack(signed_dir / "out")
    envelope = json.loads((pack / signing.ENVELOPE).read_text())
    envelope["signatures"][0]["sig"] = "bm90IGEgc2lnbmF0dXJl"  # base64 of "not a signature"
    (pack / signing.ENVELOPE).write_text(json.dumps(envelope))
    assert any("bad signature" in p for p in evidence.verify(pack, key=signing_key[1]).problems)
    (pack / signing.ENVELOPE).write_text("{not json")
    assert any("is not a DSSE envelope" in p for p in evidence.verify(pack, key=signing_key[1]).problems)
    rsa_public = tmp_path / "rsa.pub.pem"
    rsa_public.write_bytes(rsa.generate_private_key(65537, 2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(signing.SigningError, match=r"--key .*rsa.pub.pem: public key type .*allowed: Ed25519"):
        signing.load_public_key(rsa_public)


def test_a_failed_signature_keeps_the_pack_unsigned_and_says_why(tmp_path: Path, synthetic_run: Any) -> None:
    """KMS Sign throttled at the end of a game day: the evidence stays, unsigned, and says why."""
    import boto3
    from botocore.stub import Stubber

    key = ed25519.Ed25519PrivateKey.generate()
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    public = tmp_path / "kms.pub.pem"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    client = boto3.client("kms", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("get_public_key", {"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY",
                                             "PublicKey": der, "SigningAlgorithms": ["ED25519_SHA_512"]})
        stub.add_client_error("sign", service_error_code="ThrottlingException", service_message="Rate exceeded",
                              http_status_code=400)
        signer = signing.from_environment({signing.KMS_VARIABLE: "alias/gameday-evidence"}, kms_client=lambda _: client)
        assert signer is not None
        pack = evidence.write_pack(synthetic_run, tmp_path / "out", tmp_path / "history.jsonl", signer=signer)
    assert pack.signing_error is not None and "KMS Sign failed" in pack.signing_error
    assert "ThrottlingException" in pack.signing_error
    assert pack.directory.is_dir() and not (pack.directory / signing.ENVELOPE).exists()
    written = json.loads((pack.directory / "evidence.json").read_text())
    assert written["run"]["signing"] == {"method": signer.method, "key_fingerprint": signer.fingerprint,
                                         "error": pack.signing_error}
    cover = (pack.directory / "report.html").read_text()
    assert "<dt>Signed by</dt><dd><span class=\"bad\">unsigned</span>" in cover and "failed" in cover
    assert history.read(tmp_path / "history.jsonl").records[-1]["signing_key_fingerprint"] is None
    result = evidence.verify(pack.directory)  # intact, and honest about being unsigned
    assert result.ok, result.message
    assert any(f"unsigned: signing with {signer.fingerprint} failed when the run ended" in w for w in result.warnings)
    assert not evidence.verify(pack.directory, key=public).ok  # an auditor who expects a signature still fails it
