"""Fixture factories. plugin.py only registers options and creates the default fixtures from these.

Every fixture is namespaced (``gameday_stack``, ``gameday_environment``, ...) and they depend on each
other only by those names, so a project's own ``stack`` or ``environment`` fixture never changes what
the harness uses. The short names (``stack``, ``environment``, ...) are aliases (``alias``).
"""
from __future__ import annotations

import functools
import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

import boto3
import pytest
from botocore.config import Config

from environments import loader
from environments.model import AwsEnvironment, LocalEnvironment
from gameday import settings as settings_
from base.errors import GamedayError, SettingsError
from base.retries import retries
from base.timeline import Timeline


@dataclass(frozen=True)
class LocalStackInfo:
    instance: int
    aws_endpoint: str
    dns_host: str
    dns_port: int
    state_dir: str
    started_here: bool


def resolve_settings(config: pytest.Config) -> settings_.Resolved:
    def option(name: str) -> Any:
        return config.getoption(f"gameday_{name}", default=None)

    def ini(name: str) -> Any:
        try:
            return config.getini(name)
        except ValueError:
            return None
        except pytest.UsageError as error:  # only a bool key can be malformed; pytest's message lacks its name
            raise SettingsError(f"{config.inipath}: {name}: {error}; use true or false") from None

    try:
        return settings_.resolve(option, ini, ini_file=str(config.inipath) if config.inipath else "the ini file")
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None


def default_instance() -> int:
    """Tests never touch a user's instance 0: xdist worker gwN gets instance N+1, a serial run 1."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 1 + int(worker.removeprefix("gw") or 0)


def alias(canonical: str, scope: Literal["session", "function"]) -> Any:
    """A fixture that is another one under a short name: the same object, computed once.

    It names ``canonical`` in its signature (not getfixturevalue), so pytest sees the dependency
    statically: --setup-plan, --fixtures-per-test and the teardown order show the whole chain.
    """
    def fixture(**requested: Any) -> Any:
        return requested[canonical]

    fixture.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(canonical, inspect.Parameter.POSITIONAL_OR_KEYWORD)])
    fixture.__doc__ = f"Alias of ``{canonical}``."
    return pytest.fixture(scope=scope)(fixture)


def environment_fixture() -> Callable[..., LocalEnvironment | AwsEnvironment]:
    @pytest.fixture(scope="session")
    def gameday_environment(gameday_settings: settings_.Resolved) -> LocalEnvironment | AwsEnvironment:
        """The validated environment, with this session's local address ranges applied."""
        from stack.local.instance import Instance

        try:
            loaded = loader.load(gameday_settings.env)
        except GamedayError as error:
            raise pytest.UsageError(str(error)) from None
        if isinstance(loaded, LocalEnvironment):
            number = gameday_settings.instance if gameday_settings.instance is not None else default_instance()
            return Instance(number, loaded).resolved()
        return loaded

    return gameday_environment


def local_stack_fixture() -> Callable[..., Iterator[LocalStackInfo | None]]:
    @pytest.fixture(scope="session")
    def gameday_local_stack(gameday_settings: settings_.Resolved,
                            gameday_environment: LocalEnvironment | AwsEnvironment) -> Iterator[LocalStackInfo | None]:
        """Bring the local stack up for this session, or attach to one already running. None for aws."""
        if not isinstance(gameday_environment, LocalEnvironment):
            yield None
            return
        from stack.local import attach, supervisor
        from stack.local.instance import Instance

        number = gameday_settings.instance if gameday_settings.instance is not None else default_instance()
        unshifted = loader.load(gameday_settings.env)  # the Instance applies its own address ranges
        assert isinstance(unshifted, LocalEnvironment)  # the same file gameday_environment loaded
        instance = Instance(number, unshifted)
        started_here = supervisor.running_pid(instance) is None
        if started_here:
            supervisor.start_detached(gameday_settings.env, instance)
        else:  # attaching: only to a stack that runs at this environment's time scale
            attach.require_same_scale(instance, gameday_environment)
        try:
            yield LocalStackInfo(number, instance.aws_endpoint, instance.control_host, instance.dns_port,
                                 str(instance.state_dir), started_here)
        finally:
            if started_here and not gameday_settings.keep_stack:
                supervisor.stop(instance)

    return gameday_local_stack


def healthy_stack_fixture() -> Callable[..., None]:
    @pytest.fixture
    def gameday_healthy_stack(gameday_local_stack: LocalStackInfo | None, request: pytest.FixtureRequest) -> None:
        """Refuse to start an experiment on a degraded local stack, naming the part and the reason (aws: no check).

        Checked per experiment, since an earlier one may have left the stack degraded.
        """
        if gameday_local_stack is None:
            return
        from stack.local import supervisor

        try:
            supervisor.refuse_if_degraded(gameday_local_stack.aws_endpoint, request.node.nodeid)
            return
        except GamedayError as error:
            refusal = str(error)
        pytest.fail(refusal, pytrace=False)  # outside the except: the message alone, not twice

    return gameday_healthy_stack


def aws_session_fixture() -> Callable[..., boto3.session.Session]:
    @pytest.fixture(scope="session")
    def gameday_aws_session(gameday_environment: Any, gameday_local_stack: LocalStackInfo | None) -> boto3.session.Session:
        """A boto3 Session for the environment: dummy credentials for local, the profile or default chain for aws."""
        first_region = next(iter(gameday_environment.regions))
        if isinstance(gameday_environment, LocalEnvironment):
            from stack.local.part import local_session

            return local_session(first_region)
        return boto3.session.Session(region_name=first_region, profile_name=gameday_environment.profile)

    return gameday_aws_session


def aws_client_fixture() -> Callable[..., Callable[[str, str | None], Any]]:
    @pytest.fixture(scope="session")
    def gameday_aws_client(gameday_aws_session: boto3.session.Session,
                           gameday_local_stack: LocalStackInfo | None) -> Callable[[str, str | None], Any]:
        """``gameday_aws_client("rds", "us-east-1")``: a cached client aimed at the environment's endpoint."""
        endpoint = gameday_local_stack.aws_endpoint if gameday_local_stack else None
        aws_session = gameday_aws_session

        @functools.cache
        def client(service: str, region: str | None = None) -> Any:
            return aws_session.client(service, region_name=region or aws_session.region_name, endpoint_url=endpoint,
                                      config=Config(retries=retries(4)))

        return client

    return gameday_aws_client


def stack_fixture() -> Callable[..., Any]:
    @pytest.fixture(scope="session")
    def gameday_stack(gameday_environment: Any, gameday_aws_client: Callable[[str, str | None], Any],
                      gameday_settings: settings_.Resolved, gameday_guard: Any,
                      gameday_local_stack: LocalStackInfo | None) -> Any:
        """The reference stack's typed handles: built on the local stack; in aws, the stack built earlier
        (found by its tags, read-only), or built with --build-stack; with --attach, the stack found by the tag
        contract (stack.discovery), on either kind, building nothing."""
        from stack import discovery
        from stack.builder import Builder, options_from_environ

        environment, aws_client, local_stack = gameday_environment, gameday_aws_client, gameday_local_stack
        local = isinstance(environment, LocalEnvironment)
        options = options_from_environ(wait_delay_s=0.25 if local else 10.0, wait_attempts=480 if local else 90,
                                       nameserver=(local_stack.dns_host, local_stack.dns_port) if local_stack else None,
                                       accelerator=local_stack is not None)
        builder = Builder(environment, lambda service, region: aws_client(service, region), options)
        if isinstance(environment, AwsEnvironment):
            # The same allowlist as the faults: not even a read of the wrong account or Region.
            gameday_guard.check_caller(aws_client, list(environment.regions), "using the reference stack")
        if gameday_settings.attach:
            return discovery.discover(environment, lambda service, region: aws_client(service, region))
        if isinstance(environment, AwsEnvironment):
            if not gameday_settings.build:
                return builder.attach()
            if gameday_settings.dry_run:
                pytest.skip("dry run: building the reference stack in an aws environment would change the account")
        return builder.build()

    return gameday_stack


def timeline_fixture() -> Callable[..., Timeline]:
    @pytest.fixture
    def gameday_timeline(request: pytest.FixtureRequest, gameday_environment: Any) -> Timeline:
        """The evidence timeline of one experiment."""
        return Timeline(request.node.nodeid, gameday_environment.timescale)

    return gameday_timeline
