"""The pytest plugin, tested end to end with pytester."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]
CONFTEST = 'pytest_plugins = ["gameday.plugin"]\n'


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    return pytester


def test_markers_are_registered(tester: pytest.Pytester) -> None:
    result = tester.runpytest("--markers")
    for marker in ("failover", "gameday", "az_outage", "dns", "latency", "rds", "region", "requires_aws", "slow"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{marker}:*"])


def test_strict_markers_accept_ours(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest
        @pytest.mark.failover
        @pytest.mark.az_outage
        def test_marked(): pass
    """)
    tester.runpytest("--strict-markers").assert_outcomes(passed=1)


def test_option_group(tester: pytest.Pytester) -> None:
    result = tester.runpytest("--help")
    result.stdout.fnmatch_lines(["gameday: chaos and DR experiments:", "*--env=GAMEDAY_ENV*"])


def test_bad_env_is_a_usage_error(tester: pytest.Pytester) -> None:
    result = tester.runpytest("--env", "prod")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--env: no environments/prod.yaml; known: aws-example, local*"])


def test_an_environment_file_that_is_not_utf8_is_a_usage_error(tester: pytest.Pytester) -> None:
    tester.path.joinpath("e.yaml").write_bytes(b"\xff\xfe")  # an INTERNALERROR (UnicodeDecodeError) before
    result = tester.runpytest("--gameday-env", "e.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*e.yaml: not UTF-8 text: byte 0xff at offset 0 (line 1: invalid start byte)*"])


def test_environment_fixture_follows_precedence(tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    tester.makepyfile("""
        def test_env(environment, gameday_settings):
            assert environment.name == "aws-example"
            assert gameday_settings.sources["env"] == "environment"
    """)
    monkeypatch.setenv("GAMEDAY_ENV", "aws-example")
    tester.runpytest().assert_outcomes(passed=1)
    tester.makepyfile("""
        def test_env(environment, gameday_settings):
            assert environment.name == "local" and gameday_settings.sources["env"] == "option"
    """)
    tester.runpytest("--env", "local", "--gameday-instance", "3").assert_outcomes(passed=1)


def test_local_environment_uses_the_instance_ranges(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_ranges(environment):
            assert environment.regions["us-east-1"].vpc_cidr == "127.40.0.0/16"
            assert environment.vantage_points["virginia"].subnet == "127.203.1.0/24"
    """)
    tester.runpytest("--gameday-instance", "3").assert_outcomes(passed=1)


def test_requires_aws_is_skipped_with_a_reason_on_local(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest
        @pytest.mark.requires_aws
        def test_real(): raise AssertionError("must not run")
    """)
    result = tester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*requires_aws: needs a real account*"])


def test_timeline_fixture(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        def test_events(timeline):
            timeline.record("fault_injected", "network.isolate_az", az="us-east-1a")
            assert [e.name for e in timeline] == ["network.isolate_az"]
            assert timeline.scale.factor == 0.1
    """)
    tester.runpytest().assert_outcomes(passed=1)


def test_the_scenario_learns_why_its_experiment_stopped(tester: pytest.Pytester) -> None:
    """What a scenario's teardown puts in the evidence as the error: the call's, or a failed precondition's
    (a fixture set up after it), but not a skip."""
    tester.makepyfile("""
        import pytest
        from gameday.harness import CALL_ERROR

        seen = {}

        @pytest.fixture
        def scenario(request):
            yield
            seen[request.node.name] = repr(request.node.stash.get(CALL_ERROR, None))

        @pytest.fixture
        def precondition(scenario):
            raise RuntimeError("the primary did not come back")

        @pytest.fixture
        def unavailable(scenario):
            pytest.skip("no such part here")

        def test_call_fails(scenario): raise ValueError("broken")
        def test_precondition_fails(scenario, precondition): pass
        def test_precondition_skips(scenario, unavailable): pass
        def test_passes(scenario): pass

        def test_zz_report():
            assert seen == {
                "test_call_fails": "ValueError('broken')",
                "test_precondition_fails": "RuntimeError('the primary did not come back')",
                "test_precondition_skips": "None",
                "test_passes": "None",
            }, seen
    """)
    tester.runpytest().assert_outcomes(passed=2, failed=1, errors=1, skipped=1)
