"""The built images, run with the engine that built them (podman; docker with a daemon).

Every test here is marked ``images``. ``MODELVIZ_SKIP_IMAGES=1`` skips them explicitly; a machine without an engine
fails them with the Debian packages to install. The images come from ``modelviz images build`` (``scripts/setup``
runs it); the fixture builds them too, which is a no-op when their inputs are unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .containers import Runner


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.images)


@pytest.fixture(scope="session")
def runner() -> Runner:
    if os.environ.get("MODELVIZ_SKIP_IMAGES") == "1":
        pytest.skip("MODELVIZ_SKIP_IMAGES=1: the container image tests are switched off on request")
    from modelviz_cluster.images import EngineError, find_engine

    try:
        engine = find_engine(os.environ.get("MODELVIZ_IMAGE_ENGINE") or None)
        # buildah builds but runs no containers: podman shares its storage.
        runs = find_engine("podman") if engine.name == "buildah" else engine
    except EngineError as exc:
        pytest.fail(str(exc))
    return Runner(engine, runs)


def _built(runner: Runner, name: str) -> str:
    from modelviz_cluster.images import EngineError, build_images

    try:
        (image,) = build_images(runner.builder, [name])
    except EngineError as exc:
        pytest.fail(str(exc))
    return image.ref


@pytest.fixture(scope="session")
def operator_image(runner: Runner) -> str:
    """The operator image's reference, built (or found unchanged) once per session."""
    return _built(runner, "operator")


@pytest.fixture(scope="session")
def visualizer_image(runner: Runner) -> str:
    return _built(runner, "visualizer")
