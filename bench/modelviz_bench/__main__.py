"""``python -m modelviz_bench``: the benchmark Job's entry point (see ``runner``)."""

from __future__ import annotations

import sys

from .runner import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
