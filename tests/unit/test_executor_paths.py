"""The local executor's path rewriting: mount paths become the directories standing for the volumes."""

from __future__ import annotations

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
