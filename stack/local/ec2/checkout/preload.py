"""What the checkout zygote imports besides the server (``--preload stack.local.ec2.checkout.preload``)."""
from __future__ import annotations


def preload() -> None:
    """Import everything a serving instance imports, so each child finds it already in memory: the server,
    and what it imports only once running (tracing's exporter and the requests session it makes on its
    first export, metrics' botocore signer, uvicorn's loop and protocol, anyio's worker threads). A module first imported in an
    instance is a private copy in each of them; a test checks that a serving instance imports nothing more."""
    import netrc  # noqa: F401 - requests reads ~/.netrc on each request it sends

    import anyio._backends._asyncio  # noqa: F401 - anyio loads its backend on the first catalog or database call
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials  # noqa: F401
    import httptools  # noqa: F401
    import opentelemetry.exporter.otlp.proto.http.trace_exporter
    import opentelemetry.propagators.aws
    import opentelemetry.sdk.extension.aws.trace
    import opentelemetry.sdk.resources
    import opentelemetry.sdk.trace
    import opentelemetry.sdk.trace.export  # noqa: F401
    import requests
    import requests.adapters  # noqa: F401
    import uvicorn.lifespan.on
    import uvicorn.loops.uvloop
    import uvicorn.protocols.http.httptools_impl  # noqa: F401
    import uvloop  # noqa: F401

    import stack.local.ec2.checkout.server  # noqa: F401

