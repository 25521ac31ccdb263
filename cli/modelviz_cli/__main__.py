"""``modelviz <command> ...``: dispatches to each package's own command line, imported lazily.

Lazy imports keep ``modelviz bench`` free of TensorFlow and ``modelviz operator`` free of the cluster harness.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["main"]

# command -> (module, help); every module has ``main(argv: list[str]) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "operator": ("modelviz_operator.__main__", "run the operator (kopf) against the current kubeconfig"),
    "crd": ("modelviz_operator.crdgen", "generate (or --check) crds/ from the pydantic API"),
    "cluster": ("modelviz_cluster.cli", "local control plane on 127.0.0.1: build|up|down|env|status"),
    "demo": ("modelviz_cluster.demo", "local cluster + operator + examples/demo.yaml + visualizer on 127.0.0.1"),
    "app": ("modelviz_app.cli", "serve the visualizer (streamlit) or prepare its models and data"),
    "bench": ("modelviz_bench.cli", "run Apache Bench against a URL and print JSON and a table"),
    "images": ("modelviz_cluster.images.cli", "build the operator and visualizer images (podman, buildah, docker)"),
}


def _usage() -> str:
    lines = ["usage: modelviz <command> [args...]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"modelviz: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    sys.exit(main())
