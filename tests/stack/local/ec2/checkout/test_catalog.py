"""Checkout's catalog: GET /products/{sku} from its Region's replica, the admin endpoint, and the SigV4 signer."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from stack import catalog as catalog_
from stack.local.ec2.checkout import awsjson
from stack.local.ec2.checkout.app import create_app
from stack.local.ec2.checkout.config import CheckoutConfig, ConfigError, Listen, parse
from stack.local.ec2.checkout.orders import Placement
from tests.stack.catalog_plane import clients, endpoint_url, free_port  # noqa: F401 - fixtures

TOKEN = "t" * 24
BASE = ["--listen", "127.0.0.1:9", "--instance-id", "i-0123456789abcdef0", "--region", "us-east-1",
        "--az", "us-east-1a", "--dns", "127.0.0.1:53"]


def call(app: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], Any]:
    """One request through the ASGI app, in process."""
    raw = b"" if body is None else json.dumps(body).encode()
    sent = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    scope = {"type": "http", "http_version": "1.1", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": b"", "scheme": "http", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
             "headers": [(k.encode(), v.encode()) for k, v in sent.items()], "root_path": ""}
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    anyio.run(app, scope, receive, send)
    return answer["status"], answer["headers"], json.loads(answer["body"])


def config(endpoint: str | None, token: str | None = TOKEN, region: str = "us-east-1") -> CheckoutConfig:
    return CheckoutConfig(Placement("i-0123456789abcdef0", region, f"{region}a"), Listen(host="127.0.0.1", port=9),
                          None, "127.0.0.1", 53, request_timeout_s=3, catalog_table="catalog" if endpoint else None,
                          catalog_endpoint=endpoint or "", admin_token=token)


@pytest.fixture(scope="module")
def table(clients: Any) -> str:  # noqa: F811 - the fixture
    spec = catalog_.CatalogSpec("us-east-1", ("us-east-1",), "checkout-test")
    catalog_.Catalog(spec, lambda region: clients("dynamodb", region), clients("secretsmanager", "us-east-1"),
                     delay_s=0.01, timeout_s=10, tags=[]).ensure()
    return spec.table


@pytest.fixture(autouse=True)
def local_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def test_product_is_read_from_the_regions_replica(endpoint_url: str, table: str) -> None:  # noqa: F811
    status, headers, body = call(create_app(config(endpoint_url)), "GET", "/products/SC-TEE-001")
    assert status == 200, body
    assert (body["price_cents"], body["stock"], body["version"], body["write_id"]) == (1999, 500, 1, "seed")
    assert body["catalog"] == "dynamodb:catalog@us-east-1" and headers["x-region"] == "us-east-1"
    assert call(create_app(config(endpoint_url)), "GET", "/products/SC-NOPE-999")[0] == 404


def test_admin_writes_unconditionally_and_increments_the_version(endpoint_url: str, table: str) -> None:  # noqa: F811
    app = create_app(config(endpoint_url))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, _, first = call(app, "PUT", "/admin/products/SC-HOOD-003", {"price_cents": 5100, "write_id": "w1"}, auth)
    assert status == 200, first
    assert (first["price_cents"], first["stock"], first["version"], first["write_id"]) == (5100, 120, 2, "w1")
    status, _, second = call(app, "PUT", "/admin/products/SC-HOOD-003", {"stock": 7}, auth)
    assert status == 200 and (second["price_cents"], second["stock"], second["version"]) == (5100, 7, 3)
    assert call(app, "GET", "/products/SC-HOOD-003")[2]["version"] == 3


@pytest.mark.parametrize(("body", "headers", "status", "error"), [
    ({"price_cents": 1}, {}, 401, "unauthorized"),
    ({"price_cents": 1}, {"Authorization": "Bearer wrong-token-xxxxxxxxxx"}, 401, "unauthorized"),
    ({"price_cents": -1}, {"Authorization": f"Bearer {TOKEN}"}, 422, "validation_error"),
    ({"price": 1}, {"Authorization": f"Bearer {TOKEN}"}, 422, "validation_error"),
    ({}, {"Authorization": f"Bearer {TOKEN}"}, 422, "validation_error"),
])
def test_admin_refuses_bad_requests(endpoint_url: str, table: str, body: Any, headers: dict[str, str],  # noqa: F811
                                    status: int, error: str) -> None:
    got, _, answer = call(create_app(config(endpoint_url)), "PUT", "/admin/products/SC-TEE-001", body, headers)
    assert (got, answer["error"]) == (status, error), answer


def test_admin_is_off_without_a_token_and_for_the_seed_catalog(endpoint_url: str, table: str) -> None:  # noqa: F811
    status, _, body = call(create_app(config(endpoint_url, token=None)), "PUT", "/admin/products/SC-TEE-001",
                           {"price_cents": 1}, {"Authorization": f"Bearer {TOKEN}"})
    assert (status, body["error"]) == (403, "admin_disabled")
    status, _, body = call(create_app(config(None)), "PUT", "/admin/products/SC-TEE-001", {"price_cents": 1},
                           {"Authorization": f"Bearer {TOKEN}"})
    assert (status, body["error"]) == (409, "catalog_read_only")
    status, _, body = call(create_app(config(None)), "GET", "/products/SC-TEE-001")
    assert status == 200 and body["catalog"] == "seed" and body["price_cents"] == 1999


def test_an_unreachable_catalog_is_a_503_naming_it() -> None:
    status, headers, body = call(create_app(config(f"http://127.0.0.1:{free_port()}")), "GET", "/products/SC-TEE-001")
    assert (status, body["error"]) == (503, "catalog_unavailable") and headers["retry-after"] == "1"
    assert "catalog table catalog in us-east-1: GetItem" in body["message"]


def test_the_signature_is_the_one_botocore_computes() -> None:
    url, body = "https://dynamodb.eu-central-1.amazonaws.com/", b'{"TableName": "catalog"}'
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"}
    for token in (None, "session-token"):
        request = AWSRequest("POST", url, data=body, headers=dict(headers))
        SigV4Auth(BotoCredentials("AKIDEXAMPLE", "secret/key", token), "dynamodb", "eu-central-1").add_auth(request)
        when = dt.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        ours = awsjson.sign("POST", url, headers, body, awsjson.Credentials("AKIDEXAMPLE", "secret/key", token),
                            "dynamodb", "eu-central-1", when)
        assert ours["Authorization"] == request.headers["Authorization"]


def test_catalog_options_are_checked(tmp_path: Path) -> None:
    assert parse(BASE).catalog_endpoint == "https://dynamodb.us-east-1.amazonaws.com"
    with pytest.raises(ConfigError, match="--catalog-table: 'x'"):
        parse(BASE + ["--catalog-table", "x"])
    short = tmp_path / "token"
    short.write_text("abc")
    with pytest.raises(ConfigError, match="at least 16"):
        parse(BASE + ["--catalog-table", "catalog", "--admin-token-file", str(short)])
    with pytest.raises(ConfigError, match="needs --catalog-table"):
        parse(BASE + ["--admin-token-file", str(short)])
    with pytest.raises(ConfigError, match="--catalog-endpoint"):
        parse(BASE + ["--catalog-endpoint", "ftp://x"])
