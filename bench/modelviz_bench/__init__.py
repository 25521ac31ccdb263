"""Apache Bench runner for modelviz: waits for a URL, runs ``ab``, and reports one compact JSON result.

Standard library only: it runs in a small Job container next to ``ab``.
"""

from __future__ import annotations

from .parse import AbReport, ParseError, parse_report
from .runner import BenchConfig, run

__all__ = ["AbReport", "BenchConfig", "ParseError", "parse_report", "run"]
