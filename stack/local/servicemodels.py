"""botocore's service models, read once per process.

Reading a model decompresses and parses its JSON (EC2's is 1.5 MB gzipped), and a new botocore Loader
first scans the data directories of every service it knows (over 400). The supervisor used to pay both
again and again: the control plane's request parser, the AWS-style error renderer (a new Session per
error), the parts' boto3 clients, and moto (which makes a new Loader for each model it reads). While the
stack starts, every part calls the API at once, so those reads piled up on one core: about a third of
`stack up`.

Now there are two loaders per process, each made once: botocore's, for boto3 clients, the control
plane's own parsing and moto's Region lists, and moto's (botocore's models with moto's extra shapes),
for moto's request parsing. Each reads one
model at a time, so threads asking for the same model at once read it once.
"""
from __future__ import annotations

import threading
from functools import cache
from typing import Any

import botocore.loaders
import botocore.model
import botocore.session

_reading = threading.RLock()  # one model read at a time: they are CPU-bound under the GIL anyway


class _OneReadAtATime:
    """Mixed into a Loader: the second thread asking for a model finds the first one's read in the cache."""

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        with _reading:
            return super().load_service_model(service_name, type_name, api_version)  # type: ignore[misc]


class _BotocoreLoader(_OneReadAtATime, botocore.loaders.Loader):  # type: ignore[misc]  # botocore ships no types
    pass


@cache
def loader() -> botocore.loaders.Loader:
    """The process's botocore Loader (it caches every model it has read)."""
    return _BotocoreLoader()


def session(**session_vars: Any) -> botocore.session.Session:
    """A new botocore Session that reads models through the process's loader."""
    core = botocore.session.Session(session_vars=session_vars or None)
    core.register_component("data_loader", loader())
    return core


@cache
def _shared_session() -> botocore.session.Session:
    return session()


_models: dict[str, botocore.model.ServiceModel] = {}


def service_model(service: str) -> botocore.model.ServiceModel:
    """botocore's model of ``service`` (raises botocore's UnknownServiceError when it has none)."""
    model = _models.get(service)
    if model is None:
        with _reading:  # only a first read waits for the lock
            model = _models.get(service) or _shared_session().get_service_model(service)
            _models[service] = model
    return model


def find(service: str) -> botocore.model.ServiceModel | None:
    """botocore's model of ``service``, or None when botocore does not know it."""
    try:
        return service_model(service)
    except Exception:  # noqa: BLE001 - an unknown name, or a model botocore cannot read: not a service we parse
        return None


@cache
def share_with_moto() -> None:
    """Make moto read its models through one loader of its own kind (moto's Loader adds moto's extras)."""
    import moto.core.base_backend
    import moto.core.loaders
    import moto.core.utils

    class MotoLoader(_OneReadAtATime, moto.core.loaders.Loader):
        pass

    shared = MotoLoader(extra_search_paths=[moto.core.loaders.moto_root])
    # moto.core.utils calls create_loader() for every model it reads; it caches the models, not the loader.
    moto.core.utils.create_loader = lambda: shared  # type: ignore[attr-defined]
    # moto lists each service's Regions through a Session of its own, whose loader read botocore's
    # endpoints and every backend's model a second time (about 30 MiB kept for the stack's life). The
    # process's session answers the same two questions (partitions, a service's Regions) from its loader.
    moto.core.base_backend.AccountSpecificBackend.get_session = classmethod(  # type: ignore[method-assign,assignment]
        lambda cls: _shared_session())
