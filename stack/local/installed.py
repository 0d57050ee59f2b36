"""The local stack's Python packages come with the ``local`` extra; the core (AWS-path) install has none.

Checked before a supervisor starts, so a core install that asks for the local stack gets one line naming
what is missing and how to install it, not an ImportError from deep inside the control plane.
"""
from __future__ import annotations

import importlib.util

from base.errors import StackError

EXTRA = "local"
# Module imported -> distribution that provides it (pyproject.toml's `local` extra).
MODULES = {"moto": "moto", "flask": "flask", "flask_cors": "flask-cors", "werkzeug": "werkzeug",
           "pg8000": "pg8000", "uvicorn": "uvicorn", "starlette": "starlette", "httptools": "httptools",
           "uvloop": "uvloop", "h11": "h11", "opentelemetry.sdk": "opentelemetry-sdk",
           "opentelemetry.exporter.otlp.proto.http": "opentelemetry-exporter-otlp-proto-http",
           "opentelemetry.sdk.extension.aws": "opentelemetry-sdk-extension-aws",
           "opentelemetry.propagators.aws": "opentelemetry-propagator-aws-xray", "opentelemetry.proto": "opentelemetry-proto"}


def missing() -> list[str]:
    """The distributions of the local stack that are not installed, in MODULES order."""
    return [dist for module, dist in MODULES.items() if not _found(module)]


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is absent
        return False


def require() -> None:
    """Raise StackError (exit 2, a set-up problem) naming the missing packages and the extra that brings them."""
    absent = missing()
    if absent:
        raise StackError(f"the local stack needs the Python package(s) {', '.join(absent)}, which are not "
                         f"installed: pip install 'gameday[{EXTRA}]' (or `make gameday`, which installs it)")
