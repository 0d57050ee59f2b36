"""The ground floor: errors, exit codes, time, addresses, run ids, the timeline, log files, retry settings,
the redaction of secrets and the AWS client factory's type.

Every other package may import it; it imports none of them.
"""
