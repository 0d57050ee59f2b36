"""Real load from the users' places: Locust crowds run in a child process (``run.run``), never in-process.

Locust imports gevent, which monkey-patches the standard library; pytest, the supervisor and
every probe run on plain threads, so Locust only ever runs in its own process: ``run.run`` writes
the plan (plan.py) to a file, starts ``python -m probes.load.child`` and reads back every request
it made (``result.py``). ``locustfile.py`` runs the same user classes under Locust's own command
line, including its distributed mode against a real account (docs/load.md).
"""
