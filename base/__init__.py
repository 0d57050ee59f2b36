"""The ground floor: errors, exit codes, time, addresses, run ids, the timeline, log files and retry settings.

Every other package may import it; it imports none of them.
"""
