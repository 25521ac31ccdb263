"""The image build harness without an engine: build context, content hash, names, engine choice and flags."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from modelviz_cluster.images import DEBIAN_PACKAGES, Engine, EngineError, find_engine, image_ref
from modelviz_cluster.images._context import DockerIgnore, content_hash, copy_sources
from modelviz_operator.api import DEFAULT_IMAGE
from tests.kube_helpers import REPO


def test_dockerignore_follows_docker_rules() -> None:
    ignore = DockerIgnore.of(REPO)
    assert not ignore.excluded("operator/modelviz_operator/api.py")
    assert not ignore.excluded("pyproject.toml")
    for path in (
        ".git/HEAD",
        "tests/unit/x.py",
        "cluster/modelviz_cluster/cli.py",
        "examples/demo.yaml",
        "bench/modelviz_bench/__pycache__/runner.cpython-311.pyc",
        "visualizer/modelviz_app/x.pyc",
    ):
        assert ignore.excluded(path), path
    rules = DockerIgnore("*\n!keep/\nkeep/**/*.tmp\n!keep/a/important.tmp\n")
    assert not rules.excluded("keep/a/b.py") and rules.excluded("keep/a/b.tmp") and rules.excluded("other")
    assert not rules.excluded("keep/a/important.tmp")


def test_copy_sources_leave_out_stage_copies() -> None:
    assert copy_sources(REPO / "Dockerfile.operator") == ["pyproject.toml", "README.md", "operator", "bench", "cli"]
    assert "visualizer" in copy_sources(REPO / "Dockerfile.app")


def test_content_hash_follows_what_the_build_reads(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("a = 1\n")
    (tmp_path / "notes.txt").write_text("not copied\n")
    (tmp_path / ".dockerignore").write_text("**/*.pyc\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM base AS b\nCOPY src/ /src/\nFROM base\nCOPY --from=b /src /src\n")
    first = content_hash(tmp_path, dockerfile)
    (tmp_path / "notes.txt").write_text("changed, but not in the build\n")
    (tmp_path / "src" / "x.pyc").write_bytes(b"ignored")
    assert content_hash(tmp_path, dockerfile) == first
    (tmp_path / "src" / "a.py").write_text("a = 2\n")
    assert content_hash(tmp_path, dockerfile) != first
    assert content_hash(tmp_path, dockerfile, ["PYTHON_IMAGE=other"]) != content_hash(tmp_path, dockerfile)


def test_images_are_tagged_with_the_names_the_manifests_use() -> None:
    assert image_ref("visualizer") == DEFAULT_IMAGE
    deployment = yaml.safe_load((REPO / "deploy" / "base" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image_ref("operator")
    bench = {e["name"]: e.get("value") for e in container["env"]}["MODELVIZ_BENCH_IMAGE"]
    assert bench == image_ref("operator")


def test_no_engine_names_the_debian_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError) as error:
        find_engine()
    assert all(package in str(error.value) for package in DEBIAN_PACKAGES)
    with pytest.raises(EngineError, match="unknown engine"):
        find_engine("kaniko")


def test_podman_builds_keep_healthcheck_and_use_the_host_network() -> None:
    argv = Engine("podman", "/usr/bin/podman").build_command(
        REPO / "Dockerfile.app", REPO, "ghcr.io/modelviz/visualizer:0.1.0", {"PYTHON_IMAGE": "base"}, {}
    )
    joined = " ".join(argv)
    assert "--format docker" in joined and "--network host" in joined and "--build-arg PYTHON_IMAGE=base" in joined
    assert argv[-1] == str(REPO)
    docker = Engine("docker", "/usr/bin/docker").build_command(REPO / "Dockerfile.app", REPO, "t", {}, {})
    assert "--format" not in docker and "-v" not in docker  # docker build has neither
