"""The faults tests' moto clients and journal, shared with the guard, plan and stop-condition tests."""
from tests.faults.conftest import clients, journal  # noqa: F401  (fixtures, found by pytest by name)
