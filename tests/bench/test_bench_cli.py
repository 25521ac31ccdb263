"""``modelviz bench URL ...``: the runner from a laptop, with its human table."""

from __future__ import annotations

import json

import pytest

from modelviz_bench import cli
from modelviz_bench._result import EXIT_CODES
from modelviz_cli.__main__ import main as modelviz_main

from .conftest import requires_ab
from .servers import free_port, serve


def _json_line(out: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


@requires_ab
def test_table_and_json_through_the_modelviz_command(capsys: pytest.CaptureFixture[str]) -> None:
    with serve("ok") as url:
        code = modelviz_main(["bench", url, "-n", "200", "-c", "10"])
    out = capsys.readouterr().out
    assert code == 0
    result = _json_line(out)
    assert result["ok"] is True and result["complete"] == 200
    table = dict(line.split(None, 1) for line in out.strip().splitlines()[:-1])
    assert table["result"] == "ok"
    assert table["requests"] == "200 (concurrency 10)"
    assert table["requests/s"] == f"{result['rps']:,.1f}"
    for row, key in [("mean", "meanMs"), ("p50", "p50Ms"), ("p90", "p90Ms"), ("p99", "p99Ms"), ("max", "maxMs")]:
        assert table[row] == f"{result[key]:g} ms"
    assert (table["failed"], table["non-2xx"]) == ("0", "0")


@requires_ab
def test_json_only_and_exit_code_of_a_fault(capsys: pytest.CaptureFixture[str]) -> None:
    with serve("error500") as url:
        code = cli.main([url, "-n", "100", "-c", "5", "-k", "--json"])
    captured = capsys.readouterr()
    assert code == EXIT_CODES["Non2xxResponses"]
    assert len(captured.out.strip().splitlines()) == 1
    result = _json_line(captured.out)
    assert result["reason"] == "Non2xxResponses" and result["keepAlive"] is True
    assert captured.err == ""  # --json keeps the progress log quiet too


def test_table_of_a_run_without_figures() -> None:
    table = cli.format_table({"ok": False, "reason": "ServiceNotReady", "message": "no answer", "url": "http://x/"})
    assert "FAILED ServiceNotReady: no answer" in table
    assert "requests/s  -" in table and "p99         -" in table


@requires_ab
def test_service_not_ready(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main([f"http://127.0.0.1:{free_port()}", "--wait", "0.5", "--json"])
    assert code == EXIT_CODES["ServiceNotReady"]
    assert str(_json_line(capsys.readouterr().out)["url"]).endswith("/")


@pytest.mark.parametrize("argv", [["http://x/", "-n", "5", "-c", "6"], ["not-a-url"], []])
def test_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


@requires_ab
def test_scenario_through_the_modelviz_command(capsys: pytest.CaptureFixture[str]) -> None:
    with serve("ok") as url:
        code = cli.main([url, "--scenario", "health", "-n", "10", "-c", "2", "--wait", "5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "scenario    health" in out and "/_stcore/health" in out
