"""The example FIS templates are CreateExperimentTemplate input as botocore's model defines it, and load as faults."""
from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import ParamValidator

from base.errors import FaultError
from faults.fistemplate import load

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "fis").glob("*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_validates_against_botocores_fis_model(path: Path) -> None:
    shape = botocore.session.get_session().get_service_model("fis").operation_model("CreateExperimentTemplate").input_shape
    # clientToken is an idempotency token: boto3 and the AWS CLI fill it in before validating, as here.
    assert shape.members["clientToken"].metadata.get("idempotencyToken")
    report = ParamValidator().validate({"clientToken": "x", **json.loads(path.read_text())}, shape)
    assert not report.has_errors(), report.generate_report()


def test_both_scenarios_are_there() -> None:
    assert {p.name for p in EXAMPLES} >= {"az-power-interruption.json", "cross-region-connectivity.json"}


def test_a_file_that_is_not_a_template_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"actions": {"a": {"actionId": "aws:fis:wait"}}, "experimentTemplateId": "x"}))
    with pytest.raises(FaultError, match=r"t\.json: experimentTemplateId not CreateExperimentTemplate input"):
        load(bad)
    bad.write_text("{")
    with pytest.raises(FaultError, match="not JSON"):
        load(bad)
    with pytest.raises(FaultError, match="cannot read"):
        load(tmp_path / "missing.json")
