"""How the harness finds helm: only the pinned version counts, cached under a version-keyed directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from modelviz_cluster import tools
from modelviz_cluster.binaries import BinaryError


def fake_helm(directory: Path, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "helm"
    path.write_text(f"#!/bin/sh\necho '{version}+g0000000'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_only_the_pinned_version_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.delenv("MODELVIZ_HELM", raising=False)
    fake_helm(tmp_path / "path", "v3.1.0")  # an old helm on PATH must not be taken
    assert tools.find_helm() is None
    cached = fake_helm(tools.helm_cache_dir() / "bin", tools.HELM_VERSION)
    assert tools.helm_cache_dir() == tmp_path / "cache" / f"helm-{tools.HELM_VERSION}"
    assert tools.find_helm() == cached


def test_no_build_opt_out_fails_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELVIZ_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("MODELVIZ_HELM", raising=False)
    monkeypatch.setenv("MODELVIZ_NO_BUILD", "1")
    with pytest.raises(BinaryError, match=f"helm {tools.HELM_VERSION} is missing"):
        tools.ensure_helm()
