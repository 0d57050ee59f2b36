"""The catalog experiments' figures in the evidence and the report: measured against the SLOs, and what each
vantage point was shown."""
from __future__ import annotations

from base.timeline import Timeline
from experiments.result import ScenarioResult
from probes import slo
from probes.catalog import Seen
from probes.sampler import Sample
from reports import document, html, terminal
from tests.reports import synthetic


def catalog_result(staleness_aws_s: float) -> ScenarioResult:
    with synthetic.controlled_clock(10.0) as set_:
        timeline = Timeline("experiments/test_catalog_region_isolation.py::test_catalog", synthetic.SCALE)
        set_(1.0)
        measured = [slo.Measured("catalog_staleness_s", "staleness seen from frankfurt (eu-central-1)", "rpo",
                                 staleness_aws_s / 10, staleness_aws_s, 120.0, "31 samples still showed the old price"),
                    slo.Measured("catalog_convergence_s", "convergence after the resume", "rto", 0.15, 1.5, 30.0),
                    slo.Measured("catalog_staleness_s", "staleness seen from virginia", "", 0.2, 2.0, None)]
        verdict = slo.judge_measured("catalog_region_isolation", measured)
    samples = tuple(Sample(synthetic.at(10.0 + t), "frankfurt", True,
                           Seen(200, price, version, write, "us-east-1", "eu-central-1", "127.0.0.9"))
                    for t, price, version, write in ((0.2, 4999, 1, "seed"), (0.4, 4999, 1, "seed"),
                                                     (7.0, 5099, 2, "isolation-1")))
    return ScenarioResult("catalog_region_isolation", "Catalog during Region isolation", "dynamodb.pause_replication",
                          (), timeline, verdict, markers=("dynamodb",), nodeid=timeline.name, catalog=samples)


def test_measured_figures_and_catalog_samples_are_evidence_and_shown() -> None:
    run = synthetic.run(scenarios=(catalog_result(64.7),))
    built = document.build(run)
    document.validate(built)
    scenario = built["scenarios"][0]
    assert [m["name"] for m in scenario["verdict"]["measured"]] == ["catalog_staleness_s", "catalog_convergence_s",
                                                                   "catalog_staleness_s"]
    assert len(scenario["samples"]["catalog"]) == 3
    page = html.render(built)
    assert "Measured against the SLOs" in page and "64.7 s" in page and "≤ 120 s" in page
    assert "The catalog as each vantage point saw it" in page and "isolation-1" in page
    assert page.count("frankfurt</td>") == 2  # the repeated seed sample is not a row: nothing changed
    assert "staleness seen from frankfurt (eu-central-1): 65 s (SLO catalog_staleness_s <= 120 s)" in \
        terminal.render(built, color=False, width=200)


def test_a_figure_over_its_slo_is_a_breach_naming_it() -> None:
    result = catalog_result(130.0)
    assert result.verdict is not None and not result.verdict.passed
    assert result.verdict.messages == ("staleness seen from frankfurt (eu-central-1): 130.0 s > 120 s SLO "
                                       "(catalog_staleness_s): 31 samples still showed the old price",)
    built = document.build(synthetic.run(scenarios=(result,)))
    document.validate(built)
    assert built["scenarios"][0]["outcome"] == "slo_breached"
