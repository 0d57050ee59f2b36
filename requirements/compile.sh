#!/usr/bin/env bash
# Regenerates the lock files from pyproject.toml after a dependency changes:
#   requirements/test.txt     every package of `pip install .[test]` (the framework's tests, `make test`)
#   requirements/gameday.txt  those of `.[local,charts]` (`make gameday`), pinned to the same versions
# Both pin every package with its hashes, for any platform, so an audit run installs the same bytes.
# Needs uv (`pip install uv`, in any virtualenv): `UV=/path/to/uv requirements/compile.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
common=(--generate-hashes --universal --python-version 3.11 --quiet)
"$UV" pip compile pyproject.toml --extra test "${common[@]}" -o requirements/test.txt
"$UV" pip compile pyproject.toml --extra local --extra charts -c requirements/test.txt "${common[@]}" \
    -o requirements/gameday.txt
