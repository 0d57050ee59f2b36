"""Each benchmark's default local stack instance is the one docs/performance.md gives it."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = 8  # benchmarks/benchinstance.py's SHARED_INSTANCE: what bench_instance() defaults to


def default_instance(source: str) -> int | None:
    """The instance a benchmark uses when $GAMEDAY_INSTANCE is unset, read from its source; None: none."""
    for pattern in (r"^(?:DEFAULT_)?INSTANCE = (\d)\b", r"\"GAMEDAY_INSTANCE\"(?:, | *\) or )\"(\d)\""):
        found = re.search(pattern, source, re.MULTILINE)
        if found:
            return int(found.group(1))
    return SHARED if "bench_instance()" in source else None


def documented() -> dict[str, int | None]:
    text = " ".join((ROOT / "docs" / "performance.md").read_text().split())
    sentence = text.split("No benchmark runs on instance 0", 1)[1].split("the rest share", 1)[0]
    named: dict[str, int | None] = {}
    for files, number in re.findall(r"((?:`bench_\w+\.py`(?:,| and)? )+)(?:use )?(\d|none)", sentence):
        for name in re.findall(r"`(bench_\w+)\.py`", files):
            named[name] = None if number == "none" else int(number)
    return named


def test_the_performance_guide_gives_each_benchmark_its_instance() -> None:
    assert f"the rest share {SHARED}" in " ".join((ROOT / "docs" / "performance.md").read_text().split())
    assert re.search(rf"^SHARED_INSTANCE = {SHARED}$", (ROOT / "benchmarks" / "benchinstance.py").read_text(), re.MULTILINE)
    named = documented()
    wrong = {}
    for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        actual = default_instance(path.read_text())
        said = named.get(path.stem, SHARED)
        if actual != said:
            wrong[path.name] = f"uses {actual}, the guide says {said}"
    assert not wrong, wrong
