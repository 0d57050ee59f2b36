"""botocore's models are read once per process, however many threads and consumers ask at once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest

from stack.local import servicemodels
from stack.local.part import local_session


def test_threads_asking_at_once_read_a_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    servicemodels._models.pop("sqs", None)
    reads: list[str] = []
    read = servicemodels._shared_session().get_service_model

    def counting(service: str) -> object:
        reads.append(service)
        return read(service)

    monkeypatch.setattr(servicemodels._shared_session(), "get_service_model", counting)
    start = threading.Barrier(8)

    def ask(_: int) -> object:
        start.wait()
        return servicemodels.service_model("sqs")

    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(ask, range(8)))
    assert reads == ["sqs"] and all(m is models[0] for m in models)
    assert models[0].service_name == "sqs"


def test_clients_read_through_the_process_loader() -> None:
    """A boto3 client for the local stack gets its model from the loader the control plane uses."""
    session = local_session("us-east-1")
    assert session._session.get_component("data_loader") is servicemodels.loader()


def test_moto_reads_through_one_loader_of_its_own() -> None:
    import moto.core.loaders
    import moto.core.utils

    servicemodels.share_with_moto()
    first = moto.core.utils.create_loader()
    assert first is moto.core.utils.create_loader()
    assert isinstance(first, moto.core.loaders.Loader), "moto's extras would be lost with botocore's loader"


def test_an_unknown_service_raises_botocores_error() -> None:
    with pytest.raises(botocore.exceptions.UnknownServiceError):
        servicemodels.service_model("no-such-service")


def test_moto_lists_regions_through_the_process_loader() -> None:
    """moto's own Session read botocore's endpoints and models a second time; it now asks the shared one."""
    from moto.core.base_backend import AccountSpecificBackend

    servicemodels.share_with_moto()
    session = AccountSpecificBackend.get_session()
    assert session.get_component("data_loader") is servicemodels.loader()
    assert "us-west-2" in session.get_available_regions("rds", partition_name="aws")
    assert "cn-north-1" in session.get_available_regions("ec2", partition_name="aws-cn")
    assert {"aws", "aws-cn", "aws-us-gov"} <= set(session.get_available_partitions())
