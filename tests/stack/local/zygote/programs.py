"""Programs a test zygote forks (``--main tests.stack.local.zygote.programs:FUNCTION``)."""
from __future__ import annotations

import os
import sys


def refuse(args: list[str]) -> int:
    raise SystemExit(f"programs.refuse: bad arguments {args}")


def report(args: list[str]) -> int:
    """Print what the child was given and who its parent is, then exit with the code in args[0]."""
    print(f"args={args} argv0={sys.argv[0]} cwd={os.getcwd()} marker={os.environ.get('ZYGOTE_TEST')} "
          f"parent={os.getppid()}", flush=True)
    return int(args[0])
