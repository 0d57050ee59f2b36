"""YAML that people write: a repeated key is refused with its path and both lines, not silently overwritten."""
from __future__ import annotations

import pytest
import yaml

from base import yamlfile


def test_reads_like_safe_load() -> None:
    text = "a: 1\nb: {c: [1, {d: x}]}\ndefaults: &defaults {port: 1}\nserver:\n  <<: *defaults\n  port: 2\n"
    assert yamlfile.load(text) == yaml.safe_load(text)  # a key beside a merge overrides it, as YAML means


def test_every_repeated_key_is_named_with_its_path_and_both_lines() -> None:
    text = ("time_scale: 0.1\n"
            "regions:\n"
            "  us-east-1: {vpc_cidr: a}\n"
            "  us-east-1: {vpc_cidr: b, vpc_cidr: c}\n"
            "list: [{x: 1, x: 2}]\n"
            "time_scale: 1\n")
    with pytest.raises(yamlfile.DuplicateKeys) as raised:
        yamlfile.load(text)
    assert raised.value.problems == [
        "regions.us-east-1: given twice (line 3 and line 4); a key may appear once in a mapping",
        "regions.us-east-1.vpc_cidr: given twice (line 4 and line 4); a key may appear once in a mapping",
        "list[0].x: given twice (line 5 and line 5); a key may appear once in a mapping",
        "time_scale: given twice (line 1 and line 6); a key may appear once in a mapping",
    ]


def test_keys_equal_as_values_are_the_same_key() -> None:
    with pytest.raises(yamlfile.DuplicateKeys, match="given twice"):
        yamlfile.load("'1': a\n\"1\": b\n")


def test_arbitrary_objects_are_refused_as_by_safe_load() -> None:
    with pytest.raises(yaml.YAMLError):
        yamlfile.load("!!python/object/apply:os.system [echo]\n")
