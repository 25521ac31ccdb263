"""How the harness finds binaries and what it says when it cannot build them (no cluster needed)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from modelviz_cluster import binaries
from modelviz_cluster.versions import ETCD_VERSION, KUBERNETES_VERSION, cache_key


def fake_binary(directory: Path, name: str, output: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_kubebuilder_assets_come_first_and_versions_must_match(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    fake_binary(assets, "kube-apiserver", f"Kubernetes {KUBERNETES_VERSION}")
    fake_binary(assets, "etcd", "etcd Version: 3.4.23")  # Debian's: too old, must not be used
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(assets))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("MODELVIZ_CACHE", str(tmp_path / "cache"))
    found, missing = binaries.find_binaries(["kube-apiserver", "etcd"])
    assert found == {"kube-apiserver": assets / "kube-apiserver"}
    assert missing == ["etcd"]
    assert ETCD_VERSION != "v3.4.23"


def test_cache_is_keyed_by_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELVIZ_CACHE", str(tmp_path))
    assert binaries.cache_dir() == tmp_path / cache_key()
    assert KUBERNETES_VERSION in cache_key() and ETCD_VERSION in cache_key()


def test_missing_go_says_how_to_provide_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(binaries.BinaryError) as error:
        binaries.build_binaries(["kubectl"])
    text = str(error.value)
    assert "Go is not installed" in text and "KUBEBUILDER_ASSETS" in text and KUBERNETES_VERSION in text


def test_no_build_opt_out_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("KUBEBUILDER_ASSETS", raising=False)
    monkeypatch.setenv("MODELVIZ_CACHE", str(tmp_path))
    monkeypatch.setenv("MODELVIZ_NO_BUILD", "1")
    with pytest.raises(binaries.BinaryError, match="missing binaries"):
        binaries.ensure_binaries(["kwok"])


def test_staging_replacements_are_read_from_the_releases_go_mod() -> None:
    gomod = """module k8s.io/kubernetes
require (
\tk8s.io/api v0.0.0
)
replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tgithub.com/x/y => github.com/x/y v1.0.0
)
"""
    assert binaries.staging_modules_from(gomod) == ["k8s.io/api", "k8s.io/client-go"]
