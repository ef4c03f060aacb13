"""``python -m reag_harness.cli``: the same as ``reag-eval``."""

import sys

from .app import main

sys.exit(main())
