from __future__ import annotations

import sys

from stack.local.zygote.server import main

if __name__ == "__main__":  # importing the package's modules (the core-install check does) must not run it
    sys.exit(main())
