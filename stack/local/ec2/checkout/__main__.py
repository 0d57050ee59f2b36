from __future__ import annotations

import sys

from stack.local.ec2.checkout.server import main

sys.exit(main())
