"""YAML that people write: a key given twice is an error, not a silent overwrite.

PyYAML keeps the last of two equal keys, so a second ``time_scale:`` or a Region block pasted twice
would quietly replace the first. ``load`` reads like ``yaml.safe_load`` and refuses such a file,
naming every repeated key by its path and both lines.
"""
from __future__ import annotations

from typing import Any

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeys(Exception):
    """A mapping gives the same key twice. ``problems``: one ``<key.path>: ...`` line per repeated key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Loader(yaml.SafeLoader):
    def construct_document(self, node: yaml.Node) -> Any:
        problems: list[str] = []
        self._check(node, "", problems, set())
        if problems:
            raise DuplicateKeys(problems)
        return super().construct_document(node)

    def _check(self, node: yaml.Node, path: str, problems: list[str], visited: set[int]) -> None:
        if id(node) in visited:  # an alias: its node was checked where the anchor stands
            return
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._check(item, f"{path}[{index}]", problems, visited)
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == MERGE_TAG:  # `<<: *defaults`: keys written beside it override, as YAML means
                    continue
                key = self.construct_object(key_node, deep=True) if isinstance(key_node, yaml.ScalarNode) else id(key_node)
                where = f"{path}.{key}" if path else str(key)
                line = key_node.start_mark.line + 1
                try:
                    if key in first_line:
                        problems.append(f"{where}: given twice (line {first_line[key]} and line {line}); "
                                        "a key may appear once in a mapping")
                    else:
                        first_line[key] = line
                except TypeError:  # an unhashable key; construction reports it
                    pass
                self._check(value_node, where, problems, visited)


def load(text: str) -> Any:
    """``yaml.safe_load(text)``, refusing repeated keys. Raises yaml.YAMLError or DuplicateKeys."""
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: no arbitrary objects
