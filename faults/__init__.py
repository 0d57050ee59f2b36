"""Faults: one reversible change through the AWS API each, journaled, rolled back in finally."""
