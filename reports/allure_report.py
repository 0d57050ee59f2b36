"""Render the Allure HTML report with npm's ``allure`` package (Allure Report 3, no Java, works offline).

The package is installed once into a cache directory (``npm install --prefix``), then run from
there, so nothing touches the project's tree. Without Node the function says how to get it and
returns; the game day never fails for want of a viewer.

    python -m reports.allure_report allure-results reports/out/allure
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ALLURE_PACKAGE = "allure@3"
MINIMUM_NODE_MAJOR = 20
NODE_HELP = ("Node.js >= 20 and npm are needed to render the Allure report: on Debian/Ubuntu `apt-get install -y nodejs "
             "npm`, elsewhere see https://nodejs.org. The evidence pack (report.html) does not need it.")


@dataclass(frozen=True)
class Rendered:
    ok: bool
    message: str
    report: Path | None = None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("GAMEDAY_ALLURE_CACHE", Path(base) / "gameday" / "allure3"))


def _node_major(node: str) -> int | None:
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        return int(version.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def ensure_cli(cache: Path | None = None, timeout_s: float = 600) -> tuple[Path | None, str]:
    """The ``allure`` executable from the cache, installing it first if needed; (None, why) when impossible."""
    cache = cache or cache_dir()
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, NODE_HELP
    major = _node_major(node)
    if major is None or major < MINIMUM_NODE_MAJOR:
        return None, f"Node.js {major or '?'} is too old for Allure Report 3. {NODE_HELP}"
    executable = cache / "node_modules" / ".bin" / "allure"
    if executable.exists():
        return executable, ""
    cache.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run([npm, "install", "--prefix", str(cache), ALLURE_PACKAGE, "--no-audit", "--no-fund",
                                 "--loglevel=error"], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, f"`npm install {ALLURE_PACKAGE}` did not finish within {timeout_s:.0f} s"
    if result.returncode != 0 or not executable.exists():
        return None, f"`npm install {ALLURE_PACKAGE}` failed: {result.stderr.strip()[-400:]}"
    return executable, ""


def render(results: Path, output: Path, name: str = "gameday", timeout_s: float = 300) -> Rendered:
    """Generate the Allure HTML from ``results`` into ``output``. Never raises for a missing tool."""
    if not results.is_dir() or not any(results.iterdir()):
        return Rendered(False, f"no Allure results in {results}: run pytest with --alluredir={results}")
    executable, why = ensure_cli()
    if executable is None:
        return Rendered(False, f"Allure report not rendered: {why}")
    environ = dict(os.environ, NO_COLOR="1", CI=os.environ.get("CI", "1"))  # CI: no browser, no prompts
    try:
        result = subprocess.run([str(executable), "generate", str(results), "--output", str(output),
                                 "--report-name", name], capture_output=True, text=True, timeout=timeout_s,
                                env=environ)
    except subprocess.TimeoutExpired:
        return Rendered(False, f"allure generate did not finish within {timeout_s:.0f} s")
    if result.returncode != 0 or not (output / "index.html").is_file():
        return Rendered(False, f"allure generate failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-400:]}")
    return Rendered(True, f"Allure report: {output / 'index.html'}", output / "index.html")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m reports.allure_report RESULTS_DIR OUTPUT_DIR", file=sys.stderr)
        return 2
    rendered = render(Path(args[0]), Path(args[1]))
    print(rendered.message)
    return 0  # a missing viewer is never a failed game day


if __name__ == "__main__":
    sys.exit(main())
