"""``python -m modelviz_operator`` / ``modelviz operator``: run the operator with kopf.

Watches all namespaces unless ``--namespace`` (or ``MODELVIZ_NAMESPACES``, comma-separated) narrows it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from kopf.cli import main as kopf_main

    args = list(sys.argv[1:] if argv is None else argv)
    scope: list[str] = []
    if not any(a.startswith(("--namespace", "-n", "--all-namespaces", "-A")) for a in args):
        namespaces = [n for n in os.environ.get("MODELVIZ_NAMESPACES", "").split(",") if n]
        scope = [f"--namespace={n}" for n in namespaces] or ["--all-namespaces"]
    kopf_args = ["run", "--standalone", "-m", "modelviz_operator", *scope, *args]
    try:
        kopf_main.main(args=kopf_args, prog_name="modelviz operator", standalone_mode=True)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
