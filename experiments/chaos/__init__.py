"""Chaos schedules: Hypothesis composes faults into schedules and checks invariants after every step.

- ``machine``: the state machine (its rules are the faults and recoveries; its invariants: no
  acknowledged order lost, DNS answers with healthy endpoints, one writable writer) and ``run``;
- ``rig``: the ``Rig`` protocol, the machine's only view of a stack: implement it for your own;
- ``local``: ``LocalRig`` and ``run_schedules`` for a SecureCart stack through a scenario;
- ``simulated``: ``SimulatedRig``, SecureCart in memory, which can be broken on purpose;
- ``replay``: where failing schedules are kept, so the next run replays them first.

Against your own stack::

    from experiments.chaos import FAILURES, explain, run
    try:
        run(MyRig(), "my_stack")  # MyRig implements experiments.chaos.rig.Rig
    except FAILURES as broken:
        print(explain(broken))  # the shrunk schedule, as runbook steps
"""
from experiments.chaos.machine import FAILURES, SCHEDULES, ShrinkingStopped, explain, fault_schedule, run
from experiments.chaos.rig import CheckoutEndpoint, Refused, Rig, StackBroken, Writer

__all__ = ["FAILURES", "SCHEDULES", "CheckoutEndpoint", "Refused", "Rig", "ShrinkingStopped", "StackBroken", "Writer", "explain",
           "fault_schedule", "run"]
