"""``python -m bench [module ...]``: run the benchmarks and print one table."""

from __future__ import annotations

import sys

from bench import main

sys.exit(main())
