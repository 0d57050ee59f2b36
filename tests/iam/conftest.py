"""One recorded run of every game-day path, shared by the policy and the exact-call tests."""
from __future__ import annotations

import pytest

from tests.iam import scenario


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> scenario.Recording:
    return scenario.run(tmp_path_factory.mktemp("journal"))
