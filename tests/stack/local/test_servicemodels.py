"""botocore's models are read once per process, however many threads and consumers ask at once."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import botocore.loaders
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


@pytest.mark.parametrize("service, type_name", [
    ("ec2", "service-2"),  # moto's extras add shapes
    ("route53", "service-2"),  # moto's extras change metadata
    ("dynamodb", "service-2"),  # no extras at all
    ("rds", "service-2"),  # botocore's own extras (SourceRegion), which moto's model never had
    ("rds", "paginators-1"),  # moto's extras on a paginator model
    ("ec2", "paginators-1"),  # botocore's and moto's
])
def test_moto_reads_the_models_moto_would_read_alone(service: str, type_name: str) -> None:
    """What moto's shared loader gives is what moto's own loader reads; the parts its extras leave alone are
    botocore's very objects, so a model is held once."""
    import moto.core.loaders
    import moto.core.utils

    servicemodels.share_with_moto()
    shared = moto.core.utils.create_loader().load_service_model(service, type_name)
    alone = moto.core.loaders.Loader(extra_search_paths=[moto.core.loaders.moto_root],
                                     file_loader=servicemodels.LeanModelFile())
    assert shared == alone.load_service_model(service, type_name)
    assert shared is moto.core.utils.create_loader().load_service_model(service, type_name)
    if service == "dynamodb":
        assert shared is servicemodels.loader().load_service_model(service, type_name)
    if service == "ec2" and type_name == "service-2":
        botocores = servicemodels.loader().load_service_model(service, type_name)
        assert shared["operations"] is botocores["operations"]
        assert "AuthFailure" in shared["shapes"] and "AuthFailure" not in botocores["shapes"]


@pytest.mark.parametrize("service", ["ec2", "s3", "route53"])
def test_models_are_read_lean_losing_only_their_documentation(service: str) -> None:
    """Plain dicts, and a service model equal to botocore's own once documentation is taken out of its
    operations and shapes; the service's own fields keep theirs (S3's clientContextParams require it)."""
    # Fresh loaders: botocore rewrites a cached S3 model in place when it makes an S3 client (authPath).
    stock = botocore.loaders.Loader().load_service_model(service, "service-2")
    lean = botocore.loaders.Loader(file_loader=servicemodels.LeanModelFile()).load_service_model(service, "service-2")
    assert isinstance(servicemodels.loader().file_loader, servicemodels.LeanModelFile)
    assert type(lean) is dict and type(lean["shapes"]) is dict
    assert any("documentation" in shape for shape in stock["shapes"].values())
    assert not any("documentation" in shape for shape in lean["shapes"].values())
    assert not any("documentation" in operation for operation in lean["operations"].values())
    servicemodels.without_documentation(stock["operations"])
    servicemodels.without_documentation(stock["shapes"])
    assert lean == stock
    client = local_session("us-east-1").client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1")
    assert client.meta.service_model.client_context_parameters


def test_a_lean_model_holds_each_repeated_string_value_once() -> None:
    lean = botocore.loaders.Loader(file_loader=servicemodels.LeanModelFile()).load_service_model("ec2", "service-2")
    stock = botocore.loaders.Loader().load_service_model("ec2", "service-2")
    string_types = [shape["type"] for shape in lean["shapes"].values() if shape["type"] == "string"]
    assert len(string_types) > 100 and len({id(value) for value in string_types}) == 1
    assert len({id(shape["type"]) for shape in stock["shapes"].values() if shape["type"] == "string"}) > 100


def test_share_equal_strings_keeps_the_document_equal() -> None:
    document = {"a": ["x" * 3, {"b": "".join(["x", "xx"]), "c": 1, "d": None}], "e": [["xxx"], True]}
    before = {"a": ["xxx", {"b": "xxx", "c": 1, "d": None}], "e": [["xxx"], True]}
    servicemodels.share_equal_strings(document)
    assert document == before
    assert document["a"][0] is document["a"][1]["b"] is document["e"][0][0]


def test_without_documentation_removes_only_documentation_strings() -> None:
    node = {"documentation": "<p>x</p>", "members": {"A": {"shape": "S", "documentation": "a"}},
            "errors": [{"shape": "E", "documentation": "e"}], "params": {"documentation": {"type": "string"}}}
    servicemodels.without_documentation(node)
    assert node == {"members": {"A": {"shape": "S"}}, "errors": [{"shape": "E"}],
                    "params": {"documentation": {"type": "string"}}}, "a member named documentation is kept"


def test_extras_copy_only_the_paths_they_change() -> None:
    model = {"metadata": {"protocol": "query", "version": "1"}, "shapes": {"A": {"type": "string"}}, "ops": {"X": {}}}
    merged = servicemodels.with_extras(model, {"metadata": {"version": "2"}, "shapes": {"B": {"type": "integer"}}})
    assert merged == {"metadata": {"protocol": "query", "version": "2"},
                      "shapes": {"A": {"type": "string"}, "B": {"type": "integer"}}, "ops": {"X": {}}}
    assert model == {"metadata": {"protocol": "query", "version": "1"}, "shapes": {"A": {"type": "string"}},
                     "ops": {"X": {}}}, "the shared model is never changed"
    assert merged["ops"] is model["ops"] and merged["shapes"]["A"] is model["shapes"]["A"]


def test_an_unknown_service_raises_botocores_error() -> None:
    with pytest.raises(botocore.exceptions.UnknownServiceError):
        servicemodels.service_model("no-such-service")
    import moto.core.utils

    servicemodels.share_with_moto()
    with pytest.raises(botocore.exceptions.UnknownServiceError):
        moto.core.utils.create_loader().load_service_model("no-such-service", "service-2")


def test_moto_lists_regions_through_the_process_loader() -> None:
    """moto's own Session read botocore's endpoints and models a second time; it now asks the shared one."""
    from moto.core.base_backend import AccountSpecificBackend

    servicemodels.share_with_moto()
    session = AccountSpecificBackend.get_session()
    assert session.get_component("data_loader") is servicemodels.loader()
    assert "us-west-2" in session.get_available_regions("rds", partition_name="aws")
    assert "cn-north-1" in session.get_available_regions("ec2", partition_name="aws-cn")
    assert {"aws", "aws-cn", "aws-us-gov"} <= set(session.get_available_partitions())
