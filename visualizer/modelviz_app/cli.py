"""``modelviz app serve|evaluate|prepare|train-fashion``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from modelviz_app.config import CONFIG_ENV

__all__ = ["ENTRY", "main", "serve_command"]

ENTRY = Path(__file__).resolve().parent / "asgi.py"


def serve_command(port: int, address: str, config: str | None) -> list[str]:
    """The ``streamlit run`` command line the Deployment and the tests use."""
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent)) or "streamlit"
    argv = [
        streamlit,
        "run",
        str(ENTRY),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.maxUploadSize",
        "10",
        # Users of a served visualizer get no developer menu (rerun, clear cache, deploy) and no tracebacks: an
        # unexpected exception shows its type only, its details go to the pod's log.
        "--client.toolbarMode",
        "viewer",
        "--client.showErrorDetails",
        "type",
    ]
    if config:
        argv += ["--", "--config", config]
    return argv


def _serve(args: argparse.Namespace) -> int:
    config = args.config or os.environ.get(CONFIG_ENV)
    if config and not Path(config).exists():
        print(f"modelviz app serve: configuration {config} does not exist", file=sys.stderr)
        return 2
    # The app reads the batching settings from its environment when it starts.
    if args.batch_max_size is not None:
        os.environ["MODELVIZ_BATCH_MAX_SIZE"] = str(args.batch_max_size)
    if args.batch_max_wait_ms is not None:
        os.environ["MODELVIZ_BATCH_MAX_WAIT_MS"] = str(args.batch_max_wait_ms)
    from modelviz_app.config import ConfigError
    from modelviz_app.serving._service import batch_settings_from

    try:
        batch_settings_from(os.environ)
    except ConfigError as exc:
        print(f"modelviz app serve: {exc}", file=sys.stderr)
        return 2
    argv = serve_command(args.port, args.address, args.config)
    os.execv(argv[0], argv) if os.path.isabs(argv[0]) else os.execvp(argv[0], argv)  # noqa: S606
    return 0  # pragma: no cover - exec does not return


def _prepare(args: argparse.Namespace) -> int:
    from modelviz_app.models import train_fashion
    from modelviz_app.models._effnet_lite import LITE_VARIANTS
    from modelviz_app.paths import cache_root

    cache = cache_root(Path(args.cache_dir) if args.cache_dir else None)
    start = time.monotonic()
    failures = 0
    for variant in LITE_VARIANTS:
        step = time.monotonic()
        try:
            from modelviz_app.models import Predictor, load_catalog

            model = load_catalog(variant, variant, None, cache)
            predictor = Predictor(model, cache)
            print(f"prepare: {variant} ready ({predictor.backend}) in {time.monotonic() - step:.1f} s")
        except Exception as exc:  # one missing weights package should not stop the others
            failures += 1
            print(f"prepare: {variant}: {exc}", file=sys.stderr)
    try:
        paths = train_fashion(cache, log=lambda m: print(f"prepare: {m}"))
        from modelviz_app.models import Predictor, load_catalog

        for name in paths:
            Predictor(load_catalog(name, name, None, cache), cache)
        print(f"prepare: Fashion-MNIST models ready in {paths['fashion-cnn'].parent}")
    except Exception as exc:
        failures += 1
        print(f"prepare: Fashion-MNIST models: {exc}", file=sys.stderr)
    print(f"prepare: done in {time.monotonic() - start:.1f} s (cache {cache})")
    return 1 if failures else 0


def _train(args: argparse.Namespace) -> int:
    from modelviz_app.models import train_fashion
    from modelviz_app.paths import cache_root

    cache = cache_root(Path(args.cache_dir) if args.cache_dir else None)
    paths = train_fashion(cache, force=args.force, log=lambda m: print(f"train-fashion: {m}"))
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from modelviz_app.config import AppConfig, ConfigError
    from modelviz_app.paths import cache_root
    from modelviz_app.quality import evaluate_config, render

    config_file = args.config or os.environ.get(CONFIG_ENV)
    if not config_file:
        print(f"modelviz app evaluate: no configuration (--config or ${CONFIG_ENV})", file=sys.stderr)
        return 2
    try:
        config = AppConfig.load(config_file)
    except ConfigError as exc:
        print(f"modelviz app evaluate: {exc}", file=sys.stderr)
        return 2
    shard: tuple[int, int] | None = None
    if args.shards is not None:
        index = args.index if args.index is not None else int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
        if not 0 <= index < args.shards:
            print(f"modelviz app evaluate: --index {index} is not below --shards {args.shards}", file=sys.stderr)
            return 2
        if config.predictions_dir is None:
            print("modelviz app evaluate: --shards needs predictionsDir in the configuration", file=sys.stderr)
            return 2
        shard = (index, args.shards)
    outcome = evaluate_config(config, cache_root(config.cache_dir), shard)
    models, dataset_error = outcome.models, outcome.dataset_error
    text = render(models, dataset_error, shard=shard, complete=outcome.complete)
    print(text)
    if args.output:
        # Written in place (a Job's /dev/termination-log is a file the kubelet mounted; it cannot be renamed over).
        Path(args.output).write_text(text, encoding="utf-8")
    for quality in models:
        if quality.error is not None:
            print(f"modelviz app evaluate: {quality.name}: {quality.error}", file=sys.stderr)
    if dataset_error is not None:
        print(f"modelviz app evaluate: dataset: {dataset_error}", file=sys.stderr)
    return 0 if dataset_error is None and all(q.error is None for q in models) else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="modelviz app", description="the image-classification visualizer")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the Streamlit app")
    serve.add_argument("--config", help=f"configuration YAML (default: ${CONFIG_ENV})")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--address", default="127.0.0.1")
    serve.add_argument("--batch-max-size", type=int, help="images per batched model call, 1 = no batching (8)")
    serve.add_argument("--batch-max-wait-ms", type=float, help="longest wait for a batch to fill, in ms (5)")
    serve.set_defaults(func=_serve)
    evaluate = sub.add_parser(
        "evaluate", help="evaluate every configured model on the dataset and print the figures as JSON (headless)"
    )
    evaluate.add_argument("--config", help=f"configuration YAML (default: ${CONFIG_ENV})")
    evaluate.add_argument("--output", help="also write the JSON here (e.g. /dev/termination-log)")
    evaluate.add_argument(
        "--shards", type=int, help="predict only one of this many slices into predictionsDir (an Indexed Job)"
    )
    evaluate.add_argument("--index", type=int, help="which slice, from 0 (default: $JOB_COMPLETION_INDEX)")
    evaluate.set_defaults(func=_evaluate)
    for name, func, text in (
        ("prepare", _prepare, "convert the EfficientNet-Lite weights and train the Fashion-MNIST models, once"),
        ("train-fashion", _train, "train the Fashion-MNIST models (cached unless --force)"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--cache-dir", help="default: $MODELVIZ_CACHE or ~/.cache/modelviz")
        if name == "train-fashion":
            cmd.add_argument("--force", action="store_true", help="retrain even when cached")
        cmd.set_defaults(func=func)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
