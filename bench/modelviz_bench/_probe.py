"""Wait, bounded and with backoff, until a URL answers HTTP at all (any status counts)."""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProbeResult", "wait_until_answering"]

_FIRST_DELAY_S = 0.25
_MAX_DELAY_S = 5.0
_MAX_ATTEMPT_S = 10.0

# ab never uses a proxy, so neither may the probe: an HTTP(S)_PROXY in the Job's environment must not
# make a dead service look alive (or a live one dead). Nor does ab verify certificates: a self-signed
# in-cluster endpoint must not look unready.
_TLS = ssl.create_default_context()
_TLS.check_hostname = False
_TLS.verify_mode = ssl.CERT_NONE
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=_TLS))


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    status: int | None
    attempts: int
    waited_s: float
    last_error: str


def _attempt(url: str, timeout_s: float) -> int:
    """One GET; return the HTTP status (error statuses included), raise OSError if nothing answered."""
    try:
        with _OPENER.open(url, timeout=timeout_s) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        # A 4xx/5xx is still an HTTP answer: whether it is acceptable is for the benchmark to report.
        return err.code
    except (urllib.error.URLError, http.client.HTTPException, ValueError) as err:
        raise OSError(str(getattr(err, "reason", err))) from err


def wait_until_answering(
    url: str,
    wait_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = lambda _msg: None,
) -> ProbeResult:
    """Probe ``url`` until it answers or ``wait_s`` has passed; at least one attempt is always made."""
    start = clock()
    deadline = start + max(0.0, wait_s)
    delay = _FIRST_DELAY_S
    attempts = 0
    last_error = ""
    while True:
        attempts += 1
        remaining = deadline - clock()
        try:
            status = _attempt(url, timeout_s=max(0.5, min(_MAX_ATTEMPT_S, remaining)))
        except OSError as err:
            last_error = str(err) or type(err).__name__
        else:
            return ProbeResult(True, status, attempts, clock() - start, "")
        remaining = deadline - clock()
        if remaining <= 0:
            return ProbeResult(False, None, attempts, clock() - start, last_error)
        log(f"{url} not answering yet ({last_error}); retrying in {min(delay, remaining):.2f}s")
        sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_DELAY_S)
