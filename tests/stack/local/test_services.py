"""The typed services registry and the start order that follows from what each part requires."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from base.errors import StackError
from stack.local import assembly, partnames, services
from stack.local.services import (
    DbStatus,
    GlobalTableItems,
    MetricStore,
    Network,
    Provider,
    RdsStore,
    ServiceRecords,
    Services,
    start_order,
)


def Spec(name: str, provides: tuple[type, ...] = (), requires: tuple[type, ...] = ()) -> type[Provider]:
    """A part class with only what start-up ordering reads of it."""
    made: type[Provider] = type(name, (), {"name": name, "provides": provides, "requires": requires})  # type: ignore[assignment]
    return made


class Fabric:
    def expose(self, address: str, port: int, backend: str) -> int:
        return port

    def unexpose(self, address: str, port: int) -> None:
        pass

    def register_process(self, address: str, pid: int) -> None:
        pass


def names(parts: list[type[Provider]]) -> list[str]:
    return [part.name for part in parts]


def test_a_part_starts_after_the_providers_of_what_it_requires_whatever_the_listed_order() -> None:
    listed = [Spec("ec2", requires=(Network,)), Spec("rds", (DbStatus,), (Network, ServiceRecords)),
              Spec("route53", (ServiceRecords,)), Spec("fabric", (Network,))]
    order = names(start_order(listed))
    assert order.index("fabric") < order.index("ec2") and order.index("fabric") < order.index("rds")
    assert order.index("route53") < order.index("rds")


def test_parts_free_to_start_keep_their_listed_order() -> None:
    assert names(start_order([Spec("b"), Spec("a"), Spec("c")])) == ["b", "a", "c"]


def test_the_real_parts_start_in_service_order_even_listed_backwards() -> None:
    classes = [assembly.load(spec) for spec in reversed(partnames.PARTS)]
    order = [cls.name for cls in start_order(classes, available=[RdsStore, MetricStore, GlobalTableItems])]  # the control plane's
    assert order.index("fabric") < order.index("rds") and order.index("fabric") < order.index("ec2")
    assert order.index("route53") < order.index("rds")


def test_a_required_service_nobody_provides_is_refused_naming_it_and_who_needs_it() -> None:
    with pytest.raises(StackError, match=r"part rds requires the service ServiceRecords, which no part"):
        start_order([Spec("fabric", (Network,)), Spec("rds", requires=(Network, ServiceRecords))])


def test_a_missing_service_names_the_part_that_would_provide_it() -> None:
    known = [Spec("fabric", (Network,)), Spec("rds", requires=(Network,))]
    with pytest.raises(StackError, match="requires the service Network.*; part fabric provides it: start the stack with it"):
        start_order([known[1]], known=known)


def test_a_service_the_stack_provides_before_the_parts_needs_no_part() -> None:
    assert names(start_order([Spec("rds", requires=(RdsStore,))], available=[RdsStore])) == ["rds"]


def test_a_cycle_is_refused_naming_the_parts_and_services_in_it() -> None:
    listed = [Spec("solo"), Spec("a", (Network,), (ServiceRecords,)), Spec("b", (ServiceRecords,), (Network,))]
    with pytest.raises(StackError, match="cycle") as raised:
        start_order(listed)
    assert "a requires ServiceRecords of b" in str(raised.value) and "b requires Network of a" in str(raised.value)


def test_two_providers_of_one_service_are_refused() -> None:
    with pytest.raises(StackError, match="parts one and two both provide Network"):
        start_order([Spec("one", (Network,)), Spec("two", (Network,))])


def test_require_returns_the_provider_and_names_the_missing_service_and_the_part() -> None:
    services = Services()
    fabric = Fabric()
    services.provide(Network, fabric, by="part fabric")
    assert services.require(Network, "part ec2") is fabric
    assert services.find(ServiceRecords) is None
    with pytest.raises(StackError, match=r"part rds requires the service ServiceRecords, .*provided: Network \(part fabric\)"):
        services.require(ServiceRecords, "part rds")


def test_provide_refuses_a_second_provider_and_one_without_the_methods() -> None:
    services = Services()
    services.provide(Network, Fabric(), by="part fabric")
    with pytest.raises(StackError, match="part other provides Network, which part fabric already provides"):
        services.provide(Network, Fabric(), by="part other")
    with pytest.raises(StackError, match="part route53 declares that it provides ServiceRecords but lacks its methods"):
        services.provide(ServiceRecords, Fabric(), by="part route53")  # type: ignore[arg-type]


def test_the_architecture_guide_lists_every_service_with_its_provider_and_the_parts_that_require_it() -> None:
    guide = (Path(__file__).parents[3] / "docs" / "architecture.md").read_text()
    table = guide.split("The services (`stack/local/services.py`)", 1)[1].split("\n\n", 2)[1]
    rows = {m[0]: (m[1], m[2]) for m in re.findall(r"^\| `(\w+)` \| ([^|]+?) \| ([^|]+?) \|", table, re.MULTILINE)}
    kinds = {name for name, cls in inspect.getmembers(services, inspect.isclass)
             if getattr(cls, "_is_runtime_protocol", False) and cls.__module__ == services.__name__}
    assert set(rows) == kinds
    parts = [assembly.load(spec) for spec in partnames.PARTS]
    for kind in kinds:
        providers = [part.name for part in parts if kind in {k.__name__ for k in part.provides}]
        required = {part.name for part in parts if kind in {k.__name__ for k in part.requires}}
        listed = rows[kind][1].split("(", 1)[0].strip()
        assert rows[kind][0] == (providers[0] if providers else "the control plane"), kind
        assert set(filter(None, listed.split(", "))) == required, f"{kind}: the guide says {rows[kind][1]!r}"
