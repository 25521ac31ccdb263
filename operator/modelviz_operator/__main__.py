"""``python -m modelviz_operator`` / ``modelviz operator``: run the operator with kopf.

The entry point: reads the :class:`~modelviz_operator.config.Config` once (environment), registers the handlers into
a fresh kopf registry and runs kopf with it. Watches all namespaces unless ``--namespace`` (or
``MODELVIZ_NAMESPACES``, comma-separated) narrows it. The options are kopf run's that deployments use.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main", "parse_args"]

_LOG_FORMATS = ("plain", "full", "json")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="modelviz operator", description="Run the modelviz operator (kopf).")
    parser.add_argument("-n", "--namespace", action="append", default=[], help="namespace to watch (repeatable)")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument("--liveness", dest="liveness_endpoint", help="e.g. http://0.0.0.0:8080/healthz")
    parser.add_argument("--log-format", choices=_LOG_FORMATS, default="full")
    parser.add_argument("--log-refkey", help="JSON logs: the key of the object reference")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-d", "--debug", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--standalone", action="store_true", help="always on: no peering with other operators")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import kopf

    from .config import Config
    from .handlers import register

    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    config = Config.from_env(os.environ)  # the one read of the environment
    namespaces = list(args.namespace) or list(config.namespaces)
    kopf.configure(
        debug=args.debug,
        verbose=args.verbose,
        quiet=args.quiet,
        log_format=kopf.LogFormat[args.log_format.upper()],
        log_refkey=args.log_refkey,
    )
    registry = kopf.OperatorRegistry()
    register(registry, config)
    kopf.run(
        registry=registry,
        standalone=True,
        clusterwide=args.all_namespaces or not namespaces,
        namespaces=[] if args.all_namespaces else namespaces,
        liveness_endpoint=args.liveness_endpoint,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
