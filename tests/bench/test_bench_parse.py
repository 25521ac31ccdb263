"""The ab report parser on real ab output captured by ``capture_reports.py`` (see data/index.json).

Expected figures are those of the committed captures: re-capturing a case means updating its numbers here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from modelviz_bench._result import figures, judge
from modelviz_bench.parse import AbReport, FailureBreakdown, ParseError, parse_abort, parse_report

DATA = Path(__file__).with_name("data")
INDEX: dict[str, dict[str, object]] = json.loads((DATA / "index.json").read_text())


def report(name: str) -> AbReport:
    return parse_report((DATA / f"{name}.txt").read_text())


def test_every_capture_is_indexed_and_present() -> None:
    on_disk = {p.name.removesuffix(".stderr.txt").removesuffix(".txt") for p in DATA.glob("*.txt")}
    assert on_disk == set(INDEX)
    for name in INDEX:
        assert (DATA / f"{name}.txt").exists() and (DATA / f"{name}.stderr.txt").exists()


def test_normal_run_every_field() -> None:
    assert report("normal") == AbReport(
        server_software="TestServer/1.0",
        server_hostname="127.0.0.1",
        server_port=46799,
        document_path="/",
        document_length=19,
        concurrency=50,
        time_taken_s=1.427,
        complete=2000,
        failed=0,
        failures=FailureBreakdown(),
        write_errors=0,
        non_2xx=0,
        keep_alive=0,
        total_transferred=354000,
        html_transferred=38000,
        rps=1401.71,
        mean_ms=35.671,
        mean_across_ms=0.713,
        transfer_kbps=242.29,
        p50_ms=34.0,
        p66_ms=37.0,
        p75_ms=40.0,
        p80_ms=41.0,
        p90_ms=44.0,
        p95_ms=46.0,
        p98_ms=49.0,
        p99_ms=51.0,
        max_ms=52.0,
    )
    assert judge(report("normal")) is None


def test_keep_alive_run() -> None:
    r = report("keepalive")
    assert (r.complete, r.failed, r.keep_alive, r.concurrency) == (2000, 0, 2000, 50)
    assert (r.rps, r.mean_ms, r.p99_ms, r.max_ms, r.transfer_kbps) == (5794.7, 8.629, 114.0, 253.0, 1029.92)
    assert judge(r) is None


def test_non_2xx_responses() -> None:
    r = report("non2xx")
    assert (r.complete, r.failed, r.non_2xx, r.document_length) == (500, 0, 500, 18)
    assert judge(r) == ("Non2xxResponses", "500 of 500 responses were not 2xx")


@pytest.mark.parametrize(
    ("name", "failed", "breakdown"),
    [
        ("length_failures", 428, FailureBreakdown(0, 0, 428, 0)),
        ("dropped_responses", 166, FailureBreakdown(0, 0, 166, 0)),
        ("connection_reset", 227, FailureBreakdown(0, 0, 166, 61)),
        # With -r, a refused port gives a "report" whose failures outnumber its completions.
        ("connection_refused", 150, FailureBreakdown(0, 100, 0, 50)),
    ],
)
def test_failed_requests_breakdown(name: str, failed: int, breakdown: FailureBreakdown) -> None:
    r = report(name)
    assert (r.failed, r.failures) == (failed, breakdown)
    verdict = judge(r)
    assert verdict is not None and verdict[0] == "RequestsFailed"
    assert figures(r)["failures"] == {
        "connect": breakdown.connect,
        "receive": breakdown.receive,
        "length": breakdown.length,
        "exceptions": breakdown.exceptions,
    }


def test_connections_closed_unanswered_count_as_complete_in_ab() -> None:
    r = report("closed_without_answer")
    assert (r.complete, r.failed, r.total_transferred, r.server_software) == (200, 0, 0, "")
    assert judge(r) == ("EmptyResponses", "200 requests got no bytes back (connections closed unanswered)")


def test_single_request_has_no_percentile_table() -> None:
    r = report("single_request")
    assert (r.complete, r.rps, r.mean_ms) == (1, 1414.43, 0.707)
    assert (r.p50_ms, r.p99_ms, r.max_ms) == (None, None, None)
    assert figures(r)["p99Ms"] is None


def test_report_printed_by_ab_on_sigint() -> None:
    r = report("interrupted")
    assert (r.complete, r.failed, r.p50_ms, r.max_ms) == (150, 0, 7.0, 16.0)


@pytest.mark.parametrize(
    ("name", "completed", "timed_out", "refused"),
    [
        ("timeout", None, True, False),
        ("timeout_partial", 150, True, False),
        ("timeout_partial_verbose", 150, True, False),
        ("connection_refused_abort", None, False, True),
    ],
)
def test_aborted_runs(name: str, completed: int | None, timed_out: bool, refused: bool) -> None:
    stdout = (DATA / f"{name}.txt").read_text()
    stderr = (DATA / f"{name}.stderr.txt").read_text()
    assert INDEX[name]["returncode"] != 0
    with pytest.raises(ParseError, match="Complete requests"):
        parse_report(stdout)
    abort = parse_abort(stdout, stderr)
    assert (abort.completed, abort.timed_out, abort.connection_refused) == (completed, timed_out, refused)
    assert len(abort.errors) == 1 and abort.errors[0].startswith("apr_")


@pytest.mark.parametrize(
    "text",
    ["", "ab: invalid URL\nUsage: ab [options] [http[s]://]hostname[:port]/path\n", "Complete requests: many\n"],
)
def test_garbage_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_report(text)


def test_report_cut_off_inside_the_percentile_table() -> None:
    text = (DATA / "normal.txt").read_text()
    cut = text[: text.index("  95%")]
    with pytest.raises(ParseError, match=r"percentile table is incomplete \(missing \[95, 98, 99, 100\]\)"):
        parse_report(cut)


def test_report_missing_a_required_line() -> None:
    text = re.sub(r"^Failed requests:.*\n", "", (DATA / "normal.txt").read_text(), flags=re.MULTILINE)
    with pytest.raises(ParseError, match="Failed requests"):
        parse_report(text)


def test_write_errors_line_and_decimal_percentiles() -> None:
    # ab prints "Write errors:" only when sends failed; this line is spliced into a real report.
    text = (
        (DATA / "normal.txt").read_text().replace("Total transferred:", "Write errors:           7\nTotal transferred:")
    )
    text = text.replace("  99%     51", "  99%     51.5")
    r = parse_report(text)
    assert (r.write_errors, r.p99_ms) == (7, 51.5)


@pytest.mark.parametrize("name", ["streamlit_root", "streamlit_keepalive"])
def test_real_streamlit_reports(name: str) -> None:
    r = report(name)
    assert (r.server_software, r.document_length, r.complete, r.failed, r.non_2xx) == ("uvicorn", 7863, 1000, 0, 0)
    # ab -k asks for keep-alive over HTTP/1.0; uvicorn closes the connection anyway.
    assert r.keep_alive == 0
    assert r.total_transferred == 8152000 and r.html_transferred == 7863000
    assert judge(r) is None


def test_streamlit_report_figures() -> None:
    assert figures(report("streamlit_root")) == {
        "rps": 760.11,
        "meanMs": 26.312,
        "p50Ms": 26.0,
        "p90Ms": 36.0,
        "p95Ms": 40.0,
        "p99Ms": 62.0,
        "maxMs": 63.0,
        "complete": 1000,
        "failed": 0,
        "non2xx": 0,
        "keepAliveRequests": 0,
        "transferKBps": 6051.21,
        "timeTakenSeconds": 1.316,
        "serverSoftware": "uvicorn",
    }
