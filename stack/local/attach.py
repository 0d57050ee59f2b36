"""Attaching to a local stack that is already running: only at the time scale the caller expects.

A stack runs every AWS duration at the ``time_scale`` it was started with (health-check intervals,
TTLs, RDS's failover phases). A run that attaches to it with an environment of another scale would
wait, time out and convert measurements to AWS seconds by the wrong factor, and its RTOs would be
wrong without any error. So attaching compares the scale the running stack reports in its state file
(the supervisor writes ``time_scale`` there with everything else it reports) with the environment's,
and refuses a difference, naming both and how to fix it.
"""
from __future__ import annotations

from typing import Any, Mapping

from base.errors import GamedayError, StackError
from base.timescale import TimeScale
from environments.model import LocalEnvironment
from stack.local import supervisor
from stack.local.instance import Instance


def running_scale(state: Mapping[str, Any], instance: Instance) -> TimeScale:
    """The time scale a running stack reports. Raises StackError when it reports none or a bad one."""
    try:
        return TimeScale(state["time_scale"])
    except (KeyError, GamedayError):
        raise StackError(f"the local stack running as instance {instance.number} (pid {state.get('pid')}) reports "
                         f"time_scale {state.get('time_scale', '(none)')!r} in {instance.state_dir}, so it cannot be "
                         f"checked against the environment's; restart it: `gameday stack down{instance.option}`, then "
                         f"`gameday stack up --detach{instance.option}`") from None


def refuse_other_scale(state: Mapping[str, Any], instance: Instance, environment: LocalEnvironment) -> None:
    """Raise StackError when the running stack's time scale is not ``environment``'s."""
    running = running_scale(state, instance)
    wanted = environment.timescale
    if running != wanted:
        raise StackError(
            f"the local stack running as instance {instance.number} (pid {state.get('pid')}, environment "
            f"{state.get('environment')!r}) runs at time_scale {running.factor}, but environment {environment.name!r} "
            f"has time_scale {wanted.factor}; every AWS duration would be scaled by the wrong factor. Stop it with "
            f"`GAMEDAY_INSTANCE={instance.number} gameday stack down` (a new one then starts at {wanted.factor}), "
            f"or use the environment it was started with (--env {state.get('environment')})")


def require_same_scale(instance: Instance, environment: LocalEnvironment) -> dict[str, Any]:
    """The running stack's state, once it is known to run at ``environment``'s time scale.

    Raises StackNotRunning when no stack runs for the instance, StackError when its scale differs.
    """
    state = supervisor.require_running(instance)
    refuse_other_scale(state, instance, environment)
    return state
