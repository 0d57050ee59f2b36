"""A realistic synthetic run and its pack, built once per session (charts take seconds to draw)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reports import evidence
from reports.run import Run
from tests.reports import synthetic

SECRET_PASSWORD = "Sup3r-S3cret-pw!"
SECRET_DSN = f"postgresql://orders_app:{SECRET_PASSWORD}@orders.cluster-x.us-east-1.rds.amazonaws.com:5432/orders"
SECRET_AWS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(scope="session")
def synthetic_run() -> Run:
    return synthetic.run()


@pytest.fixture(scope="session")
def pack_root(tmp_path_factory: pytest.TempPathFactory, synthetic_run: Run) -> Path:
    """reports/ of a project: out/ with one pack, and history.jsonl."""
    root = tmp_path_factory.mktemp("reports")
    evidence.write_pack(synthetic_run, root / "out", root / "history.jsonl")
    return root


@pytest.fixture
def reports_dir(tmp_path: Path, pack_root: Path) -> Path:
    """A private copy of ``pack_root`` that a test may tamper with."""
    copy = tmp_path / "reports"
    shutil.copytree(pack_root, copy)
    return copy


def only_pack(out: Path) -> Path:
    (pack,) = [p for p in out.iterdir() if p.is_dir() and evidence.RUN_ID.match(p.name)]
    return pack


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(private key, public key) of a new Ed25519 pair, made by `gameday keygen`'s code."""
    from reports import signing

    directory = tmp_path_factory.mktemp("keys")
    signing.keygen(directory / "signing.pem", directory / "signing.pub.pem")
    return directory / "signing.pem", directory / "signing.pub.pem"


@pytest.fixture(scope="session")
def signed_root(tmp_path_factory: pytest.TempPathFactory, synthetic_run: Run, signing_key: tuple[Path, Path]) -> Path:
    """Like ``pack_root``, but the pack is signed with ``signing_key``."""
    from reports import signing

    root = tmp_path_factory.mktemp("signed")
    signer = signing.from_environment({signing.KEY_FILE_VARIABLE: str(signing_key[0])})
    evidence.write_pack(synthetic_run, root / "out", root / "history.jsonl", signer=signer)
    return root


@pytest.fixture
def signed_dir(tmp_path: Path, signed_root: Path) -> Path:
    """A private copy of ``signed_root`` that a test may tamper with."""
    copy = tmp_path / "signed"
    shutil.copytree(signed_root, copy)
    return copy


def sign_with_moto_kms_p256(pack: Path, public_key: Path) -> tuple[str, str]:
    """Sign ``pack`` with an ECC_NIST_P256 key in moto's KMS (in process), write the public key KMS
    gives out to ``public_key`` as PEM; returns (the signer's method text, the key id)."""
    import boto3
    from cryptography.hazmat.primitives import serialization
    from moto import mock_aws

    from reports import signing

    with mock_aws():
        client = boto3.client("kms", region_name="us-east-1", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        key_id = client.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
        signer = signing.from_environment({signing.KMS_VARIABLE: key_id}, kms_client=lambda _: client)
        assert signer is not None
        signing.sign(pack, signer, pack.name, None)
        der = client.get_public_key(KeyId=key_id)["PublicKey"]
    public_key.write_bytes(serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return signer.method, key_id
