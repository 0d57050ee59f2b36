"""Signing a pack: an in-toto Statement v1 in a DSSE envelope, ``MANIFEST.dsse.json``, beside the manifest.

The Statement's subjects are every file of the pack, MANIFEST.sha256 included (which names the
previous pack's manifest by hash, so one signature vouches for the whole chain behind it), each with
its SHA-256. Anyone holding only the public key can check it; docs/evidence.md shows how with
openssl and coreutils alone.

Library: securesystemslib (the in-toto/TUF project's maintained library) for the DSSE envelope, its
pre-authentication encoding and signature checks; its CryptoSigner signs Ed25519 through pyca
``cryptography`` (OpenSSL). Nothing here is hand-written crypto: the Statement is plain JSON data,
and AWS KMS signs inside KMS.

Where the signing key comes from (first found wins), see ``from_environment``:
- ``GAMEDAY_SIGNING_KEY_FILE``: a PEM file holding an unencrypted PKCS#8 Ed25519 private key
  (``gameday keygen`` or ``openssl genpkey -algorithm ed25519``), readable by its owner only;
- ``GAMEDAY_SIGNING_KEY``: the same PEM text itself (a CI secret);
- ``GAMEDAY_SIGNING_KMS_KEY_ID``: an AWS KMS asymmetric key (id, ARN, alias) with key spec
  ECC_NIST_EDWARDS25519 (signed as ED25519_SHA_512, MessageType RAW) or ECC_NIST_P256
  (ECDSA_SHA_256). KMS keeps the private key; ``kms:Sign`` and ``kms:GetPublicKey`` are needed.
With none of them the pack is written unsigned: ``gameday verify`` says so, and fails with ``--key``.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from securesystemslib import dsse
from securesystemslib import exceptions as sslib_errors
from securesystemslib.signer import CryptoSigner, Key, SecretsHandler, Signature, Signer, SSlibKey

from base import files
from base.errors import GamedayError
from reports import manifest

ENVELOPE = manifest.ENVELOPE
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://gameday.invalid/evidence-pack/v1"
KEY_FILE_VARIABLE = "GAMEDAY_SIGNING_KEY_FILE"
KEY_VARIABLE = "GAMEDAY_SIGNING_KEY"
KMS_VARIABLE = "GAMEDAY_SIGNING_KMS_KEY_ID"
_KMS_LIMIT = 4096  # KMS Sign: a RAW Message is at most 4096 bytes (botocore kms SignRequest.Message)


class SigningError(GamedayError):
    """The signing or verification key could not be used."""


def fingerprint(public_key: PublicKeyTypes) -> str:
    """``SHA256:<hex>`` of the DER SubjectPublicKeyInfo: ``openssl pkey -pubin -outform DER | sha256sum`` gives it too."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def _sslib_key(public_key: PublicKeyTypes) -> SSlibKey:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        scheme = "ed25519"
    elif isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1":
        scheme = "ecdsa-sha2-nistp256"
    else:
        raise SigningError(f"public key type {type(public_key).__name__}: allowed: Ed25519, or ECDSA P-256 (from AWS KMS)")
    # the keyid is the fingerprint, so an envelope names its key the way the report's cover does
    return SSlibKey.from_crypto(public_key, keyid=fingerprint(public_key).removeprefix("SHA256:"), scheme=scheme)


@dataclass(frozen=True)
class PackSigner:
    signer: Signer
    public_key_pem: str
    fingerprint: str
    method: str  # for people: where the key came from


def from_private_pem(pem: bytes, source: str) -> PackSigner:
    """An Ed25519 signer from PEM (PKCS#8) text; ``source`` names where it came from in errors."""
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise SigningError(f"{source}: not an unencrypted PEM private key ({error}); expected PKCS#8 Ed25519, "
                           f"as `gameday keygen` or `openssl genpkey -algorithm ed25519` writes") from None
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise SigningError(f"{source}: a {type(private).__name__}; allowed: an Ed25519 private key")
    public = private.public_key()
    pem_text = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    # the method names the variable, not the file's path: the report need not say where a private key lives
    return PackSigner(CryptoSigner(private, _sslib_key(public)), pem_text, fingerprint(public),
                      f"Ed25519 key from ${source.split('=')[0].lstrip('$')}")


class KmsSigner(Signer):
    """Signs inside AWS KMS. securesystemslib's AWSSigner sends digests only, which KMS refuses for Ed25519 (pure
    Ed25519 is RAW), so this small Signer calls ``Sign`` itself; the signature is checked like any other."""

    _ALGORITHMS = {"ECC_NIST_EDWARDS25519": ("ED25519_SHA_512", "RAW"), "ECC_NIST_P256": ("ECDSA_SHA_256", "RAW")}

    def __init__(self, client: Any, key_id: str, source: str) -> None:
        answer = client.get_public_key(KeyId=key_id)
        spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")  # the second: its deprecated name
        if spec not in self._ALGORITHMS or answer.get("KeyUsage") != "SIGN_VERIFY":
            raise SigningError(f"{source}: KMS key spec {spec}, usage {answer.get('KeyUsage')}; allowed: "
                               f"{' or '.join(self._ALGORITHMS)} with usage SIGN_VERIFY")
        self.client, self.key_id, self.source = client, key_id, source
        self.algorithm, self.message_type = self._ALGORITHMS[spec]
        self.crypto_public_key = serialization.load_der_public_key(answer["PublicKey"])
        self._public_key = _sslib_key(self.crypto_public_key)

    @property
    def public_key(self) -> Key:
        return self._public_key

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri: str, public_key: Key,
                          secrets_handler: SecretsHandler | None = None) -> "KmsSigner":
        raise NotImplementedError("build KmsSigner with a boto3 KMS client")

    def sign(self, payload: bytes) -> Signature:
        if len(payload) > _KMS_LIMIT:
            raise SigningError(f"the statement to sign is {len(payload)} bytes; KMS signs at most {_KMS_LIMIT} raw bytes")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.sign(KeyId=self.key_id, Message=payload, MessageType=self.message_type,
                                      SigningAlgorithm=self.algorithm)
        except (BotoCoreError, ClientError) as error:
            raise SigningError(f"{self.source}: KMS Sign failed: {error}") from None
        return Signature(self._public_key.keyid, answer["Signature"].hex())


def from_kms(client: Any, key_id: str, source: str | None = None) -> PackSigner:
    """A signer for the KMS key ``key_id``; ``source`` names where the key id came from in errors."""
    from botocore.exceptions import BotoCoreError, ClientError

    source = source or f"{KMS_VARIABLE}={key_id}"
    try:
        signer = KmsSigner(client, key_id, source)
    except (BotoCoreError, ClientError) as error:
        raise SigningError(f"{source}: KMS GetPublicKey failed: {error}") from None
    pem = signer.crypto_public_key.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return PackSigner(signer, pem, fingerprint(signer.crypto_public_key), f"AWS KMS key {key_id} ({signer.algorithm})")


def from_environment(environ: Mapping[str, str] | None = None,
                     kms_client: Callable[[str], Any] | None = None) -> PackSigner | None:
    """The signer the environment configures (module docstring), or None: the pack is then unsigned.

    ``kms_client(key_id)`` gives the boto3 KMS client for the key (the run's target, its Region).
    """
    environ = os.environ if environ is None else environ
    if path_text := environ.get(KEY_FILE_VARIABLE):
        path = Path(path_text)
        try:
            mode = path.stat().st_mode
            pem = path.read_bytes()
        except OSError as error:
            raise SigningError(f"{KEY_FILE_VARIABLE}={path_text}: cannot read the signing key: {error.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningError(f"{KEY_FILE_VARIABLE}={path_text}: mode {stat.S_IMODE(mode):04o} lets others read the "
                               f"private key; allowed: 0600 or stricter (chmod 600 {path_text})")
        return from_private_pem(pem, f"{KEY_FILE_VARIABLE}={path_text}")
    if pem_text := environ.get(KEY_VARIABLE):
        return from_private_pem(pem_text.encode(), f"${KEY_VARIABLE}")
    if key_id := environ.get(KMS_VARIABLE):
        if kms_client is None:
            raise SigningError(f"{KMS_VARIABLE}={key_id}: no AWS client to reach KMS with")
        return from_kms(kms_client(key_id), key_id)
    return None


def load_public_key(path: Path) -> tuple[SSlibKey, str]:
    """The verification key from a PEM SubjectPublicKeyInfo file, and its fingerprint."""
    try:
        public = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as error:
        raise SigningError(f"--key {path}: cannot read the public key: {error.strerror}") from None
    except ValueError as error:
        raise SigningError(f"--key {path}: not a PEM public key ({error}); expected the .pub.pem that "
                           f"`gameday keygen` wrote, or `openssl pkey -pubout`'s output") from None
    try:
        return _sslib_key(public), fingerprint(public)
    except SigningError as error:
        raise SigningError(f"--key {path}: {error}") from None


def statement(directory: Path, run_id: str, previous: tuple[str, str] | None) -> bytes:
    """The in-toto Statement v1 over every file of the pack (the envelope excepted), as compact sorted JSON."""
    names = [*manifest.pack_files(directory), manifest.NAME]
    subjects = [{"name": name, "digest": {"sha256": manifest.sha256(directory / name)}} for name in sorted(names)]
    body = {"_type": STATEMENT_TYPE, "subject": subjects, "predicateType": PREDICATE_TYPE,
            "predicate": {"run_id": run_id, "previous": None if previous is None else
                          {"run_id": previous[0], "manifest_sha256": previous[1]}}}
    # compact and sorted, one subject per {...}: docs/evidence.md's grep/sed recipe relies on this shape
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(directory: Path, pack_signer: PackSigner, run_id: str, previous: tuple[str, str] | None) -> Path:
    """Write ``MANIFEST.dsse.json`` for the pack in ``directory`` (its manifest is written already)."""
    envelope = dsse.Envelope(statement(directory, run_id, previous), PAYLOAD_TYPE, {})
    envelope.sign(pack_signer.signer)
    target = directory / ENVELOPE
    # one field per line, so an auditor can cut payload and sig out with sed (docs/evidence.md)
    target.write_text(json.dumps(envelope.to_dict(), indent=2) + "\n", encoding="utf-8")
    return target


@dataclass(frozen=True)
class SignatureCheck:
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    signed: bool


def check(directory: Path, key: SSlibKey | None, key_fingerprint: str | None) -> SignatureCheck:
    """Check the pack's envelope: its signature by ``key`` (None: not checked), and every subject against the files."""
    label, path = directory.name, directory / ENVELOPE
    problems: list[str] = []
    notes: list[str] = []
    if not path.is_file():
        if key is not None:
            problems.append(f"{label}: unsigned: {ENVELOPE} is missing, and --key asks for a pack signed by "
                            f"{key_fingerprint} (a signature cannot be removed without notice)")
        else:
            notes.append(f"{label}: unsigned pack (no {ENVELOPE}): it shows accidents, not a forger")
        return SignatureCheck(tuple(problems), tuple(notes), False)
    try:
        envelope = dsse.Envelope.from_dict(json.loads(path.read_text(encoding="utf-8")))
        body = json.loads(envelope.payload)
        subjects = {s["name"]: s["digest"]["sha256"] for s in body["subject"]}
    except (ValueError, KeyError, TypeError, sslib_errors.Error) as error:
        return SignatureCheck((f"{label}: {ENVELOPE} is not a DSSE envelope of an in-toto statement ({error})",), (), True)
    if envelope.payload_type != PAYLOAD_TYPE or body.get("_type") != STATEMENT_TYPE:
        problems.append(f"{label}: {ENVELOPE}: payload type {envelope.payload_type!r}, statement type "
                        f"{body.get('_type')!r}; expected {PAYLOAD_TYPE!r}, {STATEMENT_TYPE!r}")
    if key is None:
        signers = ", ".join("SHA256:" + keyid for keyid in envelope.signatures) or "nobody"
        notes.append(f"{label}: signed by {signers}; signature NOT checked: pass --key PUBLIC_KEY")
    else:
        try:
            envelope.verify([key], 1)
            notes.append(f"{label}: signature by {key_fingerprint} is valid")
        except sslib_errors.Error:  # VerificationError, or a signature that is not even well-formed
            problems.append(f"{label}: bad signature: {ENVELOPE} is not signed by {key_fingerprint} over what it holds "
                            f"(edited, re-signed with another key, or the wrong --key)")
    for name, expected in sorted(subjects.items()):
        file = directory / name
        if name.startswith("/") or ".." in name.split("/"):
            problems.append(f"{label}: signed subject {name!r} points outside the pack")
        elif not file.is_file():
            problems.append(f"{label}: signed subject {name} is missing")
        elif manifest.sha256(file) != expected:
            problems.append(f"{label}: changed after signing: {name} differs from its signed sha256 {expected[:16]}…")
    for name in [*manifest.pack_files(directory), manifest.NAME]:
        if name not in subjects and (directory / name).is_file():
            problems.append(f"{label}: {name} is not among the signed subjects")
    return SignatureCheck(tuple(problems), tuple(notes), True)


def _same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file: equal once resolved, or the same name in one directory reached two ways."""
    if first.resolve() == second.resolve():
        return True
    try:
        return first.name == second.name and os.path.samefile(first.parent, second.parent)
    except OSError:  # a directory that does not exist: keygen refuses it next
        return False


def _check_destination(path: Path, what: str) -> None:
    if path.exists() or path.is_symlink():
        raise SigningError(f"{what} {path} exists already; keygen never overwrites a key")
    if problem := files.directory_problem(path):
        raise SigningError(f"{what} {path}: {problem}; create it first or give another path")


def keygen(private_path: Path, public_path: Path) -> str:
    """Write a new Ed25519 key pair (private 0600, PKCS#8 PEM; public SubjectPublicKeyInfo PEM); return its fingerprint.

    Both destinations are checked before anything is written, and either both files are written or neither.
    """
    if _same_file(private_path, public_path):
        raise SigningError(f"the private key {private_path} and --public-key {public_path} are the same file; the "
                           f"public key would replace the private one: give two different paths")
    _check_destination(private_path, "the private key")
    _check_destination(public_path, "--public-key")
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    written: list[Path] = []
    try:
        for path, content, mode in ((private_path, pem, 0o600), (public_path, public_pem, 0o666)):
            files.write_new(path, content, mode)
            written.append(path)
    except OSError as error:
        for path in written:
            path.unlink(missing_ok=True)
        raise SigningError(f"cannot write {error.filename or path}: {error.strerror}; no key was written") from None
    return fingerprint(private.public_key())
