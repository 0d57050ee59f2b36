"""Tests of the local Route 53 part."""
