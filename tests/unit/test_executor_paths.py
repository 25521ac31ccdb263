"""The local executor's path rewriting: mount paths become the directories standing for the volumes."""

from __future__ import annotations

from pathlib import Path

from modelviz_cluster.executor import rewrite_paths

MOUNTS = {"/etc/modelviz": "/tmp/w/config", "/var/cache/modelviz": "/tmp/w/cache", "/tmp": "/tmp/w/tmp"}


def test_whole_path_components_are_rewritten_once() -> None:
    text = "--config /etc/modelviz/config.yaml\ncacheDir: /var/cache/modelviz\nHOME=/tmp"
    assert rewrite_paths(text, MOUNTS) == (
        "--config /tmp/w/config/config.yaml\ncacheDir: /tmp/w/cache\nHOME=/tmp/w/tmp"
    )


def test_other_paths_stay() -> None:
    for text in ("/etc/modelvizzz", "/data/tmp/x", "/etc/modelviz.bak", "relative/etc/modelviz"):
        assert rewrite_paths(text, MOUNTS) == text
    assert rewrite_paths("/tmp", {}) == "/tmp"


def test_files_this_machine_has_under_a_scratch_mount_stay(tmp_path: Path) -> None:
    model = tmp_path / "model.keras"
    model.write_text("")
    scratch = str(tmp_path.parent)  # stands for /tmp: an emptyDir mounted over a directory this machine uses
    mounts = {scratch: "/w/tmp", "/etc/modelviz": "/w/config"}
    text = f"path: {model}\nother: {scratch}/not-there/x\nconfig: /etc/modelviz/config.yaml"
    assert rewrite_paths(text, mounts, frozenset({scratch})) == (
        f"path: {model}\nother: /w/tmp/not-there/x\nconfig: /w/config/config.yaml"
    )
    assert rewrite_paths(str(model), mounts) == f"/w/tmp/{tmp_path.name}/model.keras"
