"""Parts of the real node that need no cluster: the pause image archive, Go build progress, the host check."""

from __future__ import annotations

import json
import stat
import tarfile
from pathlib import Path

import pytest

from modelviz_cluster import binaries, images_node
from modelviz_cluster.node import host_problems


def test_pause_image_is_catatonit_in_a_single_layer_docker_archive(tmp_path: Path) -> None:
    if not images_node.shutil.which("catatonit"):
        pytest.fail("catatonit is missing: apt-get install catatonit (scripts/setup installs it)")
    ref = images_node.pause_ref()
    archive = tmp_path / "pause.tar"
    images_node._pause_archive(archive, ref)
    assert images_node.archive_refs(archive) == [ref]
    with tarfile.open(archive) as tar:
        (entry,) = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
        with tarfile.open(fileobj=tar.extractfile(entry["Layers"][0])) as layer:
            (pause,) = layer.getmembers()
    assert config["config"]["Entrypoint"] == ["/pause", "-P"]
    assert pause.name == "pause" and pause.mode == 0o755
    assert pause.size == Path(images_node.shutil.which("catatonit") or "").stat().st_size


def test_go_builds_report_packages_compiled_and_elapsed_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "bin" / "go"
    fake.parent.mkdir()
    # A stand-in for go: three packages in the build, two compiled (one comes from the build cache).
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  list) printf 'fmt\\nexample.com/a\\nexample.com/cmd\\n' ;;\n"
        "  build) echo example.com/a >&2; sleep 0.3; echo example.com/cmd >&2;\n"
        '         while [ "$1" != "-o" ]; do shift; done; touch "$2" ;;\n'
        "esac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setenv("MODELVIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(binaries, "PROGRESS_SECONDS", 0.1)
    report = binaries.build_binaries(["kwok"], log=tmp_path / "build.log")
    out = capsys.readouterr().out
    assert "kwok v" in out and "compiling 3 packages" in out
    assert "packages compiled" in out  # the periodic progress line
    assert "2 packages compiled, 1 from Go's build cache" in out
    assert report.built == ("kwok",) and report.steps and report.steps[0][0].startswith("kwok")


def test_host_problems_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    problems = " ".join(host_problems())
    assert "iptables is not installed" in problems and "conntrack" in problems and "catatonit" in problems


def test_demo_falls_back_to_kwok_saying_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelviz_cluster import demo, node
    from modelviz_cluster.cluster import ClusterError

    monkeypatch.setattr(node, "host_problems", lambda: ["not root (containerd, kubelet and the CNI bridge need root)"])
    assert demo.choose_node("auto") == ("kwok", [])
    out = capsys.readouterr().out
    assert "FALLING BACK TO KWOK" in out and "not root" in out
    with pytest.raises(ClusterError, match="a real node cannot run here: not root"):
        demo.choose_node("real")
    assert demo.choose_node("kwok") == ("kwok", [])
