from __future__ import annotations

import sys

from stack.local.zygote.server import main

sys.exit(main())
