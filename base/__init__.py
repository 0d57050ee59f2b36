"""The ground floor: errors, exit codes, time, addresses, run ids, the timeline, log files, retry settings and
the redaction of secrets.

Every other package may import it; it imports none of them.
"""
