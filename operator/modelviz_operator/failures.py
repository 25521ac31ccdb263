"""What went wrong talking to the API server, in the terms the status speaks: a CamelCase reason, the API server's
own message (which names the refused field), and whether waiting can help.

Permanent failures (a 4xx other than 409 and 429: validation, admission, quota, RBAC) repeat identically until
someone changes the spec, the quota or the policy, so they are not retried in a loop: they make the resource Stalled
and are tried again on the next spec change or resync. Transient ones (conflicts, throttling, 5xx, an API server or
webhook that is away) make it Reconciling and are retried with exponential backoff.
"""

from __future__ import annotations

import contextvars
import json
import threading
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

__all__ = ["Backoff", "Failure", "classify", "is_api_failure"]

_MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class Failure:
    """One refused request: what it was about, why (CamelCase), the API server's words, and whether it may heal."""

    reason: str
    message: str
    transient: bool
    code: int | None = None

    def key(self) -> tuple[str, str]:
        return (self.reason, self.message)


def is_api_failure(error: BaseException) -> bool:
    """Errors the API (or the connection to it) raised, as opposed to bugs in the operator."""
    return isinstance(error, ApiException | HTTPError | ConnectionError | TimeoutError)


def _status_body(error: ApiException) -> dict[str, Any]:
    body = error.body
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str) and body.strip().startswith("{"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def classify(error: BaseException, what: str) -> Failure:
    """A Failure for an exception met while writing or reading ``what`` (e.g. ``Deployment demo``)."""
    if not isinstance(error, ApiException):
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        return Failure("ApiUnavailable", f"{what}: the API server did not answer: {text}"[:_MESSAGE_LIMIT], True)
    status = _status_body(error)
    code = int(error.status or 0)
    message = str(status.get("message") or error.reason or f"HTTP {code}")
    api_reason = str(status.get("reason") or "")
    lowered = message.lower()
    text = f"{what}: {message}"[:_MESSAGE_LIMIT]
    if "failed calling webhook" in lowered or "failed to call webhook" in lowered:
        # The webhook is away or broken, not refusing: its answer may come once it is back.
        return Failure("AdmissionWebhookUnavailable", text, True, code)
    if code == 409:
        return Failure("Conflict", text, True, code)
    if code == 429:
        return Failure("TooManyRequests", text, True, code)
    if code == 0 or code >= 500:
        return Failure("ApiUnavailable" if code in (0, 502, 503, 504) else "ApiError", text, True, code)
    if "because it is being terminated" in lowered:
        # The namespace is being deleted, and the resource with it: nothing to report, nothing to retry.
        return Failure("NamespaceTerminating", text, False, code)
    if "exceeded quota" in lowered:
        return Failure("QuotaExceeded", text, False, code)
    if "admission webhook" in lowered and "denied the request" in lowered:
        return Failure("AdmissionDenied", text, False, code)
    if "validatingadmissionpolicy" in lowered and "denied request" in lowered:
        return Failure("AdmissionDenied", text, False, code)
    if code in (401, 403):
        return Failure("Unauthorized" if code == 401 else "Forbidden", text, False, code)
    if code == 422 or api_reason == "Invalid":
        return Failure("ChildInvalid", text, False, code)
    if code == 404:
        return Failure("NotFound", text, False, code)
    return Failure(api_reason or "BadRequest", text, False, code)


class Backoff:
    """Exponential retry delays per resource (1 s, 2 s, 4 s ... capped), reset by a success."""

    def __init__(self, first: float = 1.0, cap: float = 60.0) -> None:
        self.first = first
        self.cap = cap
        self._attempts: dict[tuple[str, str], int] = {}
        self._timers: dict[tuple[str, str], threading.Timer] = {}
        self._lock = threading.Lock()

    def delay(self, key: tuple[str, str]) -> float:
        with self._lock:
            attempts = self._attempts.get(key, 0)
            self._attempts[key] = attempts + 1
        return float(min(self.cap, self.first * 2**attempts))

    def reset(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._attempts.pop(key, None)
            timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def schedule(self, key: tuple[str, str], call: Any) -> float | None:
        """Run ``call()`` once after the next delay, unless a retry is already waiting (then None)."""
        with self._lock:
            waiting = self._timers.get(key)
            if waiting is not None and waiting.is_alive():
                return None
        delay = self.delay(key)
        # The retry runs in the caller's context: kopf keeps what kopf.event needs in context variables.
        context = contextvars.copy_context()
        timer = threading.Timer(delay, self._fire, args=(key, context, call))
        timer.daemon = True
        with self._lock:
            self._timers[key] = timer
        timer.start()
        return delay

    def _fire(self, key: tuple[str, str], context: contextvars.Context, call: Any) -> None:
        with self._lock:
            self._timers.pop(key, None)
        context.run(call)

    def pending(self, key: tuple[str, str]) -> bool:
        with self._lock:
            timer = self._timers.get(key)
        return timer is not None and timer.is_alive()
