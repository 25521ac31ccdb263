"""``python -m modelviz_bench`` as a real process, with the real ab, against real local servers."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from modelviz_bench import runner
from modelviz_bench._result import EXIT_CODES, MAX_BYTES, encode

from .conftest import RunningBench, bench_env, requires_ab, run_bench
from .servers import HANG_AFTER, free_port, serve

OK_KEYS = {
    "ok",
    "url",
    "requests",
    "concurrency",
    "keepAlive",
    "rps",
    "meanMs",
    "p50Ms",
    "p90Ms",
    "p95Ms",
    "p99Ms",
    "maxMs",
    "complete",
    "failed",
    "non2xx",
    "transferKBps",
    "timeTakenSeconds",
}


@requires_ab
def test_success_writes_one_json_document_to_output_and_stdout(tmp_path: Path) -> None:
    out = tmp_path / "termination-log"
    with serve("ok") as url:
        code, result, _ = run_bench(
            ["--url", url.rstrip("/"), "--requests", "300", "--concurrency", "10", "--wait", "5", "--output", str(out)]
        )
    assert code == 0
    assert set(result) >= OK_KEYS
    assert result["ok"] is True
    assert result["url"] == url  # the bare host got the path ab needs
    assert (result["requests"], result["concurrency"], result["keepAlive"]) == (300, 10, False)
    assert (result["complete"], result["failed"], result["non2xx"]) == (300, 0, 0)
    assert result["rps"] > 0 and 0 <= result["p50Ms"] <= result["p90Ms"] <= result["p99Ms"] <= result["maxMs"]
    text = out.read_text()
    assert json.loads(text) == result
    assert len(text.encode()) <= MAX_BYTES
    assert "\n" not in text


@requires_ab
def test_keep_alive() -> None:
    with serve("ok") as url:
        code, result, stderr = run_bench(["--url", url, "-n", "300", "-c", "10", "--keep-alive", "--wait", "5"])
    assert code == 0, stderr
    assert result["keepAlive"] is True and result["keepAliveRequests"] == 300


@requires_ab
def test_http_500_is_non2xx_with_figures() -> None:
    with serve("error500") as url:
        code, result, _ = run_bench(["--url", url, "-n", "200", "-c", "10", "--wait", "5"])
    assert code == EXIT_CODES["Non2xxResponses"]
    assert result["ok"] is False and result["reason"] == "Non2xxResponses"
    assert (result["complete"], result["non2xx"]) == (200, 200)
    assert result["rps"] > 0 and result["p99Ms"] is not None


@requires_ab
def test_length_mismatches_are_failed_requests() -> None:
    with serve("varylength") as url:
        code, result, _ = run_bench(["--url", url, "-n", "200", "-c", "10", "--wait", "5"])
    assert code == EXIT_CODES["RequestsFailed"]
    assert result["reason"] == "RequestsFailed"
    assert result["failed"] > 0 and result["failures"]["length"] == result["failed"]


@requires_ab
def test_closed_port_is_service_not_ready_within_wait() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    code, result, stderr = run_bench(["--url", url, "-n", "200", "-c", "10", "--wait", "1"], timeout=30)
    assert code == EXIT_CODES["ServiceNotReady"]
    assert result["reason"] == "ServiceNotReady" and "refused" in result["message"].lower()
    assert "not answering yet" in stderr  # it retried rather than giving up at once


@requires_ab
def test_server_that_never_answers_is_service_not_ready() -> None:
    with serve("hang") as url:
        code, result, _ = run_bench(["--url", url, "-n", "200", "-c", "10", "--wait", "1"], timeout=30)
    assert code == EXIT_CODES["ServiceNotReady"]
    assert result["reason"] == "ServiceNotReady"


@requires_ab
def test_waits_for_a_service_that_comes_up_late(running_bench: list[RunningBench]) -> None:
    port = free_port()
    bench = RunningBench(["--url", f"http://127.0.0.1:{port}/", "-n", "200", "-c", "10", "--wait", "60"])
    running_bench.append(bench)
    bench.wait_for_log("not answering yet")
    with serve("ok", port=port):
        code, result = bench.finish()
    assert code == 0 and result["ok"] is True and result["complete"] == 200


@requires_ab
def test_server_hanging_mid_run_is_a_timeout_not_a_hang() -> None:
    with serve("hangafter") as url:
        code, result, _ = run_bench(["--url", url, "-n", "400", "-c", "5", "--timeout", "1", "--wait", "5"], timeout=30)
    assert code == EXIT_CODES["Timeout"]
    assert result["reason"] == "Timeout"
    assert 0 < result["complete"] < HANG_AFTER  # partial figure from "Total of N requests completed"
    assert "70007" in result["stderrTail"]


@requires_ab
def test_ab_killed_by_a_signal_is_ab_failed(running_bench: list[RunningBench]) -> None:
    with serve("hangafter") as url:
        bench = RunningBench(["--url", url, "-n", "400", "-c", "5", "--timeout", "30", "--wait", "5"])
        running_bench.append(bench)
        pid = int(bench.wait_for_log(r"ab pid (\d+)").group(1))
        os.kill(pid, signal.SIGKILL)
        code, result = bench.finish()
    assert code == EXIT_CODES["AbFailed"]
    assert result["reason"] == "AbFailed" and "SIGKILL" in result["message"]


@requires_ab
def test_sigterm_stops_ab_and_reports_terminated_with_partial_figures(
    running_bench: list[RunningBench], tmp_path: Path
) -> None:
    out = tmp_path / "termination-log"
    with serve("hangafter") as url:
        bench = RunningBench(
            ["--url", url, "-n", "1000", "-c", "5", "--timeout", "30", "--wait", "5", "--output", str(out)]
        )
        running_bench.append(bench)
        pid = int(bench.wait_for_log(r"ab pid (\d+)").group(1))
        # ab stalls once the server hangs; wait for that so the partial figures are deterministic.
        url.wait_for_requests(HANG_AFTER + 5)
        bench.proc.send_signal(signal.SIGTERM)
        code, result = bench.finish()
    assert code == EXIT_CODES["Terminated"] == 143
    assert result["reason"] == "Terminated" and "SIGTERM" in result["message"]
    assert result["complete"] == HANG_AFTER - 1  # the readiness probe took one of the answers
    assert json.loads(out.read_text()) == result
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ab was stopped and reaped, not left behind


@requires_ab
def test_sigterm_while_waiting_for_the_service(running_bench: list[RunningBench]) -> None:
    bench = RunningBench(["--url", f"http://127.0.0.1:{free_port()}/", "--wait", "60"])
    running_bench.append(bench)
    bench.wait_for_log("not answering yet")
    bench.proc.send_signal(signal.SIGTERM)
    code, result = bench.finish()
    assert code == 143 and result["reason"] == "Terminated"


def test_ab_missing_from_path(tmp_path: Path) -> None:
    code, result, _ = run_bench(["--url", "http://127.0.0.1:9/", "--wait", "0"], env=bench_env(PATH=str(tmp_path)))
    assert code == EXIT_CODES["AbMissing"]
    assert result["reason"] == "AbMissing" and "apache2-utils" in result["message"]


def _fake_ab(directory: Path, script: str) -> dict[str, str]:
    ab = directory / "ab"
    ab.write_text(f"#!{sys.executable}\n{script}\n")
    ab.chmod(ab.stat().st_mode | stat.S_IXUSR)
    return bench_env(PATH=f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")


def test_unparsable_output(tmp_path: Path) -> None:
    # Fake ab: the real one always prints a report when it exits 0, so garbage output can only be staged.
    env = _fake_ab(tmp_path, "print('ab: something unexpected happened')")
    with serve("ok") as url:
        code, result, _ = run_bench(["--url", url, "-n", "10", "-c", "1", "--wait", "5"], env=env)
    assert code == EXIT_CODES["UnparsableOutput"]
    assert result["reason"] == "UnparsableOutput" and "unexpected" in result["stdoutTail"]


def test_ab_failure_keeps_only_a_bounded_stderr_tail(tmp_path: Path) -> None:
    # Fake ab: real ab's error output is short; this one floods stderr to check the 4 KiB cap holds.
    env = _fake_ab(tmp_path, "import sys\nsys.stderr.write('x' * 100000 + ' last words')\nsys.exit(3)")
    out = tmp_path / "out.json"
    with serve("ok") as url:
        code, result, _ = run_bench(["--url", url, "-n", "10", "-c", "1", "--wait", "5", "--output", str(out)], env=env)
    assert code == EXIT_CODES["AbFailed"]
    assert result["message"] == "ab exited with code 3"
    assert result["stderrTail"].endswith("last words")
    assert len(out.read_bytes()) <= MAX_BYTES


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "ftp://127.0.0.1/"], "not an http(s) URL"),
        (["--url", "http://127.0.0.1/", "-n", "5", "-c", "10"], "must not exceed"),
        (["--url", "http://127.0.0.1/", "-n", "0"], "must be >= 1"),
        (["--requests", "10"], "required"),
    ],
)
def test_invalid_arguments_still_give_a_json_result(args: list[str], message: str) -> None:
    code, result, _ = run_bench(args)
    assert code == 2
    assert result["reason"] == "InvalidArguments" and message in result["message"]


def test_normalize_url() -> None:
    assert runner.normalize_url("http://127.0.0.1:8501") == "http://127.0.0.1:8501/"
    assert runner.normalize_url(" http://svc.ns:80/_stcore/health?x=1#frag ") == "http://svc.ns:80/_stcore/health?x=1"
    with pytest.raises(ValueError):
        runner.normalize_url("127.0.0.1:8501")


def test_ab_command() -> None:
    config = runner.BenchConfig(url="http://h/", requests=10, concurrency=2, keep_alive=True, timeout_s=0.2)
    assert runner.build_ab_command(config, "/usr/bin/ab") == [
        "/usr/bin/ab",
        "-q",
        "-r",
        "-n",
        "10",
        "-c",
        "2",
        "-k",
        "-s",
        "1",
        "http://h/",
    ]


def test_default_output_is_the_termination_log_only_when_writable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "termination-log"
    monkeypatch.setattr(runner, "DEFAULT_OUTPUT", log)
    assert runner.default_output() is None
    log.touch()
    assert runner.default_output() == log
    log.chmod(0o444)
    if os.geteuid() != 0:  # root may write anyway
        assert runner.default_output() is None


def test_encode_caps_at_4_kib_and_stays_json() -> None:
    doc = {
        "ok": False,
        "reason": "AbFailed",
        "message": "é" * 3000,
        "url": "http://127.0.0.1/" + "q" * 3000,
        "stderrTail": "\x00" * 5000 + "the end",
        "complete": 7,
    }
    text = encode(doc)
    assert len(text.encode()) <= MAX_BYTES
    back = json.loads(text)
    assert (back["ok"], back["reason"], back["complete"]) == (False, "AbFailed", 7)
    assert back["stderrTail"] in ("", "...the end") or back["stderrTail"].endswith("the end")


def test_scenario_urls() -> None:
    assert runner.scenario_url("http://svc.ns:80", "page") == "http://svc.ns:80/"
    assert runner.scenario_url("http://svc.ns:80/per_class", "page") == "http://svc.ns:80/per_class"
    assert runner.scenario_url("http://svc.ns:80", "health") == "http://svc.ns:80/_stcore/health"
    assert runner.scenario_url("http://svc.ns:80/", "predict") == "http://svc.ns:80/api/v1/predict"
    assert runner.scenario_url("http://h/base/", "predict") == "http://h/base/api/v1/predict"
    assert runner.scenario_url("http://h/api/v1/predict", "predict") == "http://h/api/v1/predict"
    with pytest.raises(ValueError, match="unknown scenario"):
        runner.scenario_url("http://h/", "stress")


def test_predict_scenario_posts_the_shipped_sample_photo() -> None:
    config = runner.parse_args(["--url", "http://h:1", "--scenario", "predict", "-n", "4", "-c", "2"])
    assert config.url == "http://h:1/api/v1/predict" and config.post_file == runner.SAMPLE_IMAGE
    assert runner.SAMPLE_IMAGE.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG, inside the package
    command = runner.build_ab_command(config, "ab")
    assert command[command.index("-p") + 1] == str(runner.SAMPLE_IMAGE)
    assert command[command.index("-T") + 1] == "image/jpeg" and command[-1] == config.url
    assert "-l" in command  # each answer has its own length
    assert "-p" not in runner.build_ab_command(runner.parse_args(["--url", "http://h", "--scenario", "health"]))


@requires_ab
def test_predict_scenario_end_to_end_reports_the_scenario(tmp_path: Path) -> None:
    body = tmp_path / "image.bin"
    body.write_bytes(b"\x89PNG fake")
    with serve("varylength") as url:
        code, result, _ = run_bench(["--url", url, "--scenario", "predict", "--post-file", str(body), "-n", "20",
                                     "-c", "2", "--wait", "5", "--output", str(tmp_path / "out")])  # fmt: skip
    assert code == 0, result
    assert result["scenario"] == "predict" and result["url"].endswith("/api/v1/predict")
    assert result["complete"] == 20
    code, result, _ = run_bench(["--url", "http://127.0.0.1:9", "--scenario", "predict", "--post-file",
                                 str(tmp_path / "missing.jpg"), "--wait", "0"])  # fmt: skip
    assert result["reason"] == "InvalidArguments" and "missing.jpg" in result["message"]
