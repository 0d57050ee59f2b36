"""botocore's service models, read once per process.

Reading a model decompresses and parses its JSON (EC2's is 1.5 MB gzipped), and a new botocore Loader
first scans the data directories of every service it knows (over 400). The supervisor used to pay both
again and again: the control plane's request parser, the AWS-style error renderer (a new Session per
error), the parts' boto3 clients, and moto (which makes a new Loader for each model it reads). While the
stack starts, every part calls the API at once, so those reads piled up on one core: about a third of
`stack up`.

Now there are two loaders per process, each made once: botocore's, for boto3 clients, the control
plane's own parsing and moto's Region lists, and moto's (botocore's models with moto's extra shapes),
for moto's request parsing, which shares botocore's models rather than reading them again. Each reads one
model at a time, so threads asking for the same model at once read it once.

Both read models lean (``LeanModelFile``): plain dicts, a service model without its documentation, and one
string object for each repeated value. The models live as long as the stack, and that halves them.
"""
from __future__ import annotations

import json
import os
import threading
from functools import cache
from typing import Any, Callable

import botocore.loaders
import botocore.model
import botocore.session

_reading = threading.RLock()  # one model read at a time: they are CPU-bound under the GIL anyway


class LeanModelFile(botocore.loaders.JSONFileLoader):  # type: ignore[misc]  # botocore ships no types
    """Reads botocore's JSON files as plain dicts, and a service model (``service-2``) without the
    documentation of its operations and shapes.

    botocore reads into OrderedDicts, a third more memory than dicts (which have kept their order since
    Python 3.7), and about a third of what is left of a decoded service model is its HTML documentation,
    which only docstrings read. For the services the stack serves, 50 MiB become 23. The service's own
    fields are kept whole (``clientContextParams`` requires its ``documentation``). JSON decoding shares
    repeated keys but makes a new string for every value (``"type": "string"`` thousands of times, every
    shape name each time it is referenced); sharing them takes the 23 MiB to 19."""

    def _load_file(self, full_path: str, open_method: Callable[..., Any]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            model = json.loads(fp.read().decode("utf-8"))
        if os.path.basename(full_path).split(".")[0] == "service-2" and isinstance(model, dict):
            for section in ("operations", "shapes"):
                without_documentation(model.get(section))
        share_equal_strings(model)
        return model


def without_documentation(node: Any) -> None:
    """Remove every ``documentation`` string from a model's dicts, in place."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("documentation"), str):
                del item["documentation"]
            stack.extend(value for value in item.values() if isinstance(value, (dict, list)))
        elif isinstance(item, list):
            stack.extend(value for value in item if isinstance(value, (dict, list)))


def share_equal_strings(node: Any) -> None:
    """Make equal string values in a decoded document's dicts and lists one object, in place."""
    seen: dict[str, str] = {}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if type(value) is str:
                    item[key] = seen.setdefault(value, value)
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            for index, value in enumerate(item):
                if type(value) is str:
                    item[index] = seen.setdefault(value, value)
                elif isinstance(value, (dict, list)):
                    stack.append(value)


class _OneReadAtATime:
    """Mixed into a Loader: the second thread asking for a model finds the first one's read in the cache."""

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        with _reading:
            return super().load_service_model(service_name, type_name, api_version)  # type: ignore[misc]


class _BotocoreLoader(_OneReadAtATime, botocore.loaders.Loader):  # type: ignore[misc]  # botocore ships no types
    FILE_LOADER_CLASS = LeanModelFile


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


def with_extras(model: dict[str, Any], merge: dict[str, Any]) -> dict[str, Any]:
    """``model`` with ``merge`` deep-merged as botocore merges extras, copying only the dicts it changes.

    Everything ``merge`` does not touch stays the very object ``model`` holds: moto's extras add a few
    shapes to a model of several MiB (EC2's two error shapes), and the copy costs only those paths."""
    merged = dict(model)
    for key, value in merge.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = with_extras(merged[key], value)
        else:
            merged[key] = value
    return merged


@cache
def share_with_moto() -> None:
    """Make moto read its models through one loader of its own kind, which shares botocore's models.

    moto's models are botocore's plus moto's extras (a few shapes, for a handful of services). They were
    read and kept a second time in full: about 40 MiB for the services the stack serves. Now moto gets the
    botocore loader's model itself, or a copy of just the paths its extras change. Where botocore merges
    extras of its own (RDS's SourceRegion parameters, S3's and Secrets Manager's), moto's model never had
    them, so moto still reads that one for itself."""
    import moto.core.base_backend
    import moto.core.loaders
    import moto.core.utils

    class MotoLoader(_OneReadAtATime, moto.core.loaders.Loader):
        FILE_LOADER_CLASS = LeanModelFile

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._shared: dict[tuple[str, str, str | None], Any] = {}

        def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
            key = (service_name, type_name, api_version)
            with _reading:
                if key not in self._shared:
                    self._shared[key] = self._read(service_name, type_name, api_version)
                return self._shared[key]

        def _read(self, service_name: str, type_name: str, api_version: str | None) -> Any:
            botocores = loader()
            if service_name not in botocores.list_available_services(type_name):
                return super().load_service_model(service_name, type_name, api_version)  # its own error
            version = api_version or botocores.determine_latest_version(service_name, type_name)
            if any(True for _ in botocores._find_extras(service_name, type_name, version)):
                return super().load_service_model(service_name, type_name, api_version)
            model = botocores.load_service_model(service_name, type_name, version)
            for extras in self._find_extras(service_name, type_name, version):  # moto's own
                if "merge" in extras:
                    model = with_extras(model, extras["merge"])
            return model

    shared = MotoLoader(extra_search_paths=[moto.core.loaders.moto_root])
    # moto.core.utils calls create_loader() for every model it reads; it caches the models, not the loader.
    moto.core.utils.create_loader = lambda: shared  # type: ignore[attr-defined]
    # moto lists each service's Regions through a Session of its own, whose loader read botocore's
    # endpoints and every backend's model a second time (about 30 MiB kept for the stack's life). The
    # process's session answers the same two questions (partitions, a service's Regions) from its loader.
    moto.core.base_backend.AccountSpecificBackend.get_session = classmethod(  # type: ignore[method-assign,assignment]
        lambda cls: _shared_session())
