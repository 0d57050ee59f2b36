"""Probes: they only read; samplers record timestamped samples."""
