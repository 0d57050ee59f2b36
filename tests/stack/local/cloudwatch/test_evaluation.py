"""One evaluation, as CloudWatch documents it: statistics, M of N, TreatMissingData, premature transitions."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stack.local import metricstats as statistics
from stack.local.cloudwatch.evaluation import AlarmSpec, Datapoint, evaluate
from stack.local.services import MetricSample

BREACH, OK_VALUE = 900.0, 100.0


def spec(n: int = 3, m: int | None = None, treat: str = "missing", statistic: str = "Average") -> AlarmSpec:
    return AlarmSpec("a", "ns", "m", frozenset(), statistic, None, 60, n, m or n, 500.0, "GreaterThanThreshold", treat)


def points(pattern: str) -> list[Datapoint]:
    """'0-X-X' oldest first: X breaching, 0 not breaching, - missing (the notation of AWS's table)."""
    value = {"X": BREACH, "0": OK_VALUE, "-": None}
    return [Datapoint(1_000_000.0 + 60 * i, value[c], 1.0 if value[c] is not None else 0.0) for i, c in enumerate(pattern)]


def sample(*values: float) -> MetricSample:
    return MetricSample("r", "ns", "m", frozenset(), 0.0, None, float(len(values)), sum(values), min(values),
                        max(values), tuple(values))


def test_standard_statistics_and_percentiles() -> None:
    samples = [sample(*range(1, 101))]
    assert statistics.compute("SampleCount", samples) == (100.0, 100.0)
    assert statistics.compute("Sum", samples) == (5050.0, 100.0)
    assert statistics.compute("Average", samples) == (50.5, 100.0)
    assert statistics.compute("Minimum", samples) == (1.0, 100.0)
    assert statistics.compute("Maximum", samples) == (100.0, 100.0)
    assert statistics.compute("p95", samples) == (95.0, 100.0)
    assert statistics.compute("p99.5", samples) == (100.0, 100.0)
    assert statistics.compute("p95", []) is None


def test_a_statistic_set_combines_but_has_no_percentile() -> None:
    stats = MetricSample("r", "ns", "m", frozenset(), 0.0, None, 4.0, 40.0, 1.0, 20.0, ())
    assert statistics.compute("Average", [stats, sample(60.0)]) == (20.0, 5.0)
    assert statistics.compute("Maximum", [stats, sample(60.0)]) == (60.0, 5.0)
    assert statistics.compute("p90", [stats]) is None


# (range, TreatMissingData) -> state; 3 of 3 over an evaluation range of 5 (AWS's table, "alarms-and-missing-data").
@pytest.mark.parametrize("pattern,treat,expected", [
    ("0-X-X", "missing", "ALARM"),  # premature-transition rule: oldest breaching 3 periods old, newer breach or miss
    ("0-X-X", "notBreaching", "OK"),
    ("0-X-X", "breaching", "ALARM"),
    ("-----", "missing", "INSUFFICIENT_DATA"),
    ("-----", "ignore", None),  # the current state is kept
    ("-----", "breaching", "ALARM"),
    ("-----", "notBreaching", "OK"),
    ("----0", "missing", "OK"),
    ("----0", "breaching", "OK"),
    ("0XXXX", "missing", "ALARM"),
    ("XX0XX", "missing", "OK"),
    ("---XX", "missing", None),  # two breaching, too few and too recent to decide: the state is kept
    ("--X--", "missing", "ALARM"),
    ("--X--", "notBreaching", "OK"),
])
def test_treat_missing_data(pattern: str, treat: str, expected: str | None) -> None:
    assert evaluate(spec(treat=treat), points(pattern), 2_000_000.0).state == expected


def test_m_of_n() -> None:
    assert evaluate(spec(n=3, m=2), points("--X0X"), 0.0).state == "ALARM"
    assert evaluate(spec(n=3, m=2), points("--00X"), 0.0).state == "OK"
    assert evaluate(spec(n=5, m=3, treat="notBreaching"), points("X-0XX"), 0.0).state == "ALARM"


def test_reason_and_reason_data_name_the_datapoints() -> None:
    outcome = evaluate(spec(), points("00XXX"), 2_000_000.0)
    assert outcome.state == "ALARM"
    assert outcome.reason.startswith("Threshold Crossed: 3 out of the last 3 datapoints [900.0 (")
    assert "were greater than the threshold (500.0) (minimum 3 datapoints for OK -> ALARM transition)" in outcome.reason
    data = json.loads(outcome.reason_data)
    assert data["period"] == 60 and data["threshold"] == 500.0 and data["statistic"] == "Average"
    assert data["recentDatapoints"] == [BREACH] * 3 and len(data["evaluatedDatapoints"]) == 3


def test_a_premature_transition_names_the_last_n_periods() -> None:
    outcome = evaluate(spec(), points("-0XX-"), 0.0)
    assert outcome.state == "ALARM"
    assert outcome.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [missing (")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500).map(float), st.integers(1, 30)), min_size=1, max_size=30),
       st.sampled_from(["p0", "p1", "p50", "p90", "p95", "p99", "p99.9", "p100"]))
def test_a_percentile_over_values_with_counts_is_the_one_over_the_values_repeated(
        histogram: list[tuple[float, int]], name: str) -> None:
    repeated = [v for v, c in histogram for _ in range(c)]
    counted = MetricSample("r", "ns", "m", frozenset(), 0.0, None, float(len(repeated)), sum(repeated), min(repeated),
                           max(repeated), tuple(v for v, _ in histogram), tuple(float(c) for _, c in histogram))
    assert statistics.compute(name, [counted]) == statistics.compute(name, [sample(*repeated)])
