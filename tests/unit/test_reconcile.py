"""The reconcile glue over an in-memory API (tests/unit/fake_kube.py): children, status, Events, failures, queue.

Beside these, tests/cluster runs the same paths against a real API server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from modelviz_operator import reconcile as reconcile_module
from modelviz_operator.cache import CachedApi
from modelviz_operator.reconcile import reconcile
from modelviz_operator.status import typed_status
from tests.unit.fake_kube import CHILD_KINDS, FakeKube, refusal

NS = "team"
SPEC: dict[str, Any] = {"models": [{"name": "a", "catalog": "mobilenet_v2"}], "dataset": {"catalog": "imagenet-sample"}}


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, body: dict[str, Any], kind: str, reason: str, message: str) -> None:
        self.seen.append((kind, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.seen]


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    api = FakeKube()
    yield api
    # Nothing held for a resource survives its test (pending retries cancelled).
    for _, namespace, name in list(api.objects):
        reconcile_module.forget(namespace, name)
    reconcile_module.forget(NS, "viz")


@pytest.fixture
def events() -> Events:
    return Events()


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_create_applies_the_children_and_writes_the_status(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", SPEC)
    assert reconcile(NS, "viz", events, api=fake) is True
    assert {k for k, ns, _ in fake.objects if ns == NS} == {"ModelVisualizer", "ConfigMap", "Deployment", "Service"}
    assert events.reasons().count("Created") == 3
    status = fake.status_of(NS, "viz")
    assert status["observedGeneration"] == 1
    assert condition(status, "Ready")["status"] == "False"
    assert condition(status, "Reconciling")["status"] == "True"
    assert status["url"] == "http://viz.team.svc.cluster.local/"
    # The Deployment's pods roll on a configuration change: it carries the hash of the ConfigMap applied beside it.
    template = fake.objects[("Deployment", NS, "viz")]["spec"]["template"]["metadata"]["annotations"]
    assert len(template["modelviz.io/config-hash"]) == 16


def test_ready_once_the_deployment_is_available(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)
    fake.settle_deployment(NS, "viz")
    reconcile(NS, "viz", events, api=fake)
    status = fake.status_of(NS, "viz")
    assert condition(status, "Ready")["status"] == "True"
    assert condition(status, "Reconciling")["status"] == "False"
    assert status["readyReplicas"] == 1
    assert "Ready" in events.reasons()


def test_nothing_changed_writes_nothing(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)
    fake.settle_deployment(NS, "viz")
    reconcile(NS, "viz", events, api=fake)
    fake.reset_calls()
    events.seen.clear()
    reconcile(NS, "viz", events, api=fake)
    assert fake.writes() == []
    assert events.seen == []
    # Not even a no-op apply: each child is still at the version this process applied.
    assert [c for c in fake.calls if c[0] == "apply"] == []


def test_steady_state_from_the_watch_caches_is_one_request(fake: FakeKube, events: Events) -> None:
    api = CachedApi(fake, CHILD_KINDS)
    fake.watchers.append(api.observe)
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=api)
    fake.settle_deployment(NS, "viz")
    reconcile(NS, "viz", events, api=api)
    fake.reset_calls()
    reconcile(NS, "viz", events, api=api)
    # The ModelVisualizer itself is read from the API (its status is diffed against it); children and pods are not.
    assert fake.calls == [("get", "ModelVisualizer", "viz")]
    # Each watched kind was listed once per namespace, on the first question the cache could not answer alone.
    fake.reset_calls()
    fake.add_visualizer(NS, "other", SPEC)
    reconcile(NS, "other", events, api=api)
    assert [c for c in fake.calls if c[0] == "list"] == []
    reconcile_module.forget(NS, "other")


def test_a_spec_change_updates_the_children(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)
    events.seen.clear()
    fake.set_spec(NS, "viz", {**SPEC, "replicas": 3})
    reconcile(NS, "viz", events, api=fake)
    assert fake.objects[("Deployment", NS, "viz")]["spec"]["replicas"] == 3
    # Two or more replicas get a disruption budget.
    assert ("PodDisruptionBudget", NS, "viz") in fake.objects
    assert ("Normal", "Updated", "Updated Deployment viz") in events.seen
    assert ("Normal", "Created", "Created PodDisruptionBudget viz") in events.seen
    assert fake.status_of(NS, "viz")["observedGeneration"] == 2
    # Back to one: the budget goes.
    fake.set_spec(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)
    assert ("PodDisruptionBudget", NS, "viz") not in fake.objects
    assert "Deleted" in events.reasons()


def test_child_drift_is_reverted(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)
    events.seen.clear()
    fake.edit("Service", NS, "viz", lambda s: s["spec"].update(sessionAffinity="None"))
    reconcile(NS, "viz", events, api=fake)
    assert fake.objects[("Service", NS, "viz")]["spec"]["sessionAffinity"] == "ClientIP"
    assert events.seen == [("Normal", "Updated", "Updated Service viz")]
    # A deleted child comes back (and is announced as created again).
    fake.remove("ConfigMap", NS, "viz-config")
    events.seen.clear()
    reconcile(NS, "viz", events, api=fake)
    assert ("ConfigMap", NS, "viz-config") in fake.objects
    assert events.seen == [("Normal", "Created", "Created ConfigMap viz-config")]


def test_a_permanent_refusal_is_degraded_once_and_the_rest_still_applies(fake: FakeKube, events: Events) -> None:
    fake.refuse[("apply", "Service")] = refusal(403, 'services "viz" is forbidden: exceeded quota: no-services')
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)
    status = fake.status_of(NS, "viz")
    assert condition(status, "Degraded")["reason"] == "QuotaExceeded"
    assert condition(status, "Stalled")["status"] == "True"
    assert ("Deployment", NS, "viz") in fake.objects
    assert not reconcile_module._backoff.pending((NS, "viz"))  # waiting will not help: no retry loop
    reconcile(NS, "viz", events, api=fake)
    assert events.reasons().count("QuotaExceeded") == 1
    del fake.refuse[("apply", "Service")]
    reconcile(NS, "viz", events, api=fake)
    assert condition(fake.status_of(NS, "viz"), "Degraded")["status"] == "False"


def test_a_transient_refusal_is_reconciling_and_retried(fake: FakeKube, events: Events) -> None:
    fake.refuse[("apply", "ConfigMap")] = refusal(503, "the server is currently unable to handle the request")
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)
    status = fake.status_of(NS, "viz")
    assert condition(status, "Reconciling")["reason"] == "ApiUnavailable"
    assert condition(status, "Stalled")["status"] == "False"
    assert reconcile_module._backoff.pending((NS, "viz"))
    del fake.refuse[("apply", "ConfigMap")]
    reconcile(NS, "viz", events, api=fake)
    assert not reconcile_module._backoff.pending((NS, "viz"))  # a success cancels the retry


def test_an_api_server_that_is_away_is_survived(fake: FakeKube, events: Events) -> None:
    fake.refuse[("get", "ModelVisualizer")] = ConnectionRefusedError("connection refused")
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)  # no exception: a retry is scheduled
    assert reconcile_module._backoff.pending((NS, "viz"))


def test_an_invalid_spec_is_reported_not_applied(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", {**SPEC, "replicas": "3"})  # what the schema would refuse, read anyway
    reconcile(NS, "viz", events, api=fake)
    status = fake.status_of(NS, "viz")
    assert condition(status, "Ready")["reason"] == "InvalidSpec"
    assert "spec.replicas" in condition(status, "Degraded")["message"]
    assert [k for k, _, _ in fake.objects] == ["ModelVisualizer"]
    assert events.reasons() == ["InvalidSpec"]


def test_a_missing_claim_is_degraded(fake: FakeKube, events: Events) -> None:
    spec = {**SPEC, "dataset": {"path": "images", "claimName": "photos"}}
    fake.add_visualizer(NS, "viz", spec)
    reconcile(NS, "viz", events, api=fake)
    assert condition(fake.status_of(NS, "viz"), "Degraded")["reason"] == "MissingVolumeClaim"
    fake.add({"kind": "PersistentVolumeClaim", "metadata": {"name": "photos", "namespace": NS}})
    reconcile(NS, "viz", events, api=fake)
    assert condition(fake.status_of(NS, "viz"), "Degraded")["status"] == "False"


def test_a_deleted_resource_leaves_nothing_behind_in_memory(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=fake)
    assert (NS, "viz") in reconcile_module._applied
    fake.remove("ModelVisualizer", NS, "viz")
    reconcile(NS, "viz", events, api=fake)
    assert (NS, "viz") not in reconcile_module._applied
    assert len(reconcile_module._queue) == 0


def test_events_for_one_resource_coalesce(fake: FakeKube, events: Events) -> None:
    """N requests while a reconcile runs: none of them waits, and they cause exactly one more pass."""
    fake.add_visualizer(NS, "viz", SPEC)
    inside, release = threading.Event(), threading.Event()
    passes = 0

    def hold_first_pass(verb: str, kind: str, name: str) -> None:
        nonlocal passes
        if (verb, kind) == ("get", "ModelVisualizer"):
            passes += 1
            if passes == 1:
                inside.set()
                assert release.wait(10)

    fake.on_call = hold_first_pass
    first = threading.Thread(target=reconcile, args=(NS, "viz", events), kwargs={"api": fake})
    first.start()
    assert inside.wait(10)
    results: list[bool] = []
    started = time.monotonic()
    others = [
        threading.Thread(target=lambda: results.append(reconcile(NS, "viz", events, api=fake))) for _ in range(50)
    ]
    for thread in others:
        thread.start()
    for thread in others:
        thread.join(5)
    # None of the 50 waited for the running pass (it is still held).
    assert results == [False] * 50 and time.monotonic() - started < 5
    assert reconcile_module._queue.busy((NS, "viz"))
    release.set()
    first.join(10)
    assert passes == 2  # the held pass, then exactly one for everything that arrived meanwhile
    assert len(reconcile_module._queue) == 0  # the table is empty once nothing runs


def test_different_resources_do_not_wait_for_each_other(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", SPEC)
    fake.add_visualizer(NS, "other", SPEC)
    release = threading.Event()
    fake.on_call = lambda verb, kind, name: release.wait(10) if (kind, name) == ("ModelVisualizer", "viz") else None
    held = threading.Thread(target=reconcile, args=(NS, "viz", events), kwargs={"api": fake})
    held.start()
    try:
        assert reconcile(NS, "other", events, api=fake) is True  # ran while viz is held
    finally:
        release.set()
        held.join(10)
    reconcile_module.forget(NS, "other")


def test_a_failing_pass_frees_its_entry(fake: FakeKube, events: Events) -> None:
    fake.add_visualizer(NS, "viz", SPEC)
    fake.refuse[("apply", "ConfigMap")] = RuntimeError("a bug")
    with pytest.raises(RuntimeError):
        reconcile(NS, "viz", events, api=fake)
    assert len(reconcile_module._queue) == 0
    del fake.refuse[("apply", "ConfigMap")]
    assert reconcile(NS, "viz", events, api=fake) is True


def test_status_is_written_through_the_typed_model() -> None:
    with pytest.raises(ValidationError, match="readyReplica"):
        typed_status({"readyReplica": 1})
    with pytest.raises(ValidationError):
        typed_status({"replicas": "1"})
    with pytest.raises(ValidationError):
        typed_status({"benchmark": {"runId": "r1", "phase": "Done"}})
    # None stays (the merge patch deletes the field), absent stays absent.
    assert typed_status({"externalUrl": None, "replicas": 1}) == {"externalUrl": None, "replicas": 1}


def _wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_request_folded_into_a_pass_that_raised_is_not_lost(fake: FakeKube, events: Events) -> None:
    """A child event that arrives during a pass is folded into it; if that pass then raises, nobody retries the
    event (kopf does not retry event handlers), so the resource must be tried again without another event."""
    fake.add_visualizer(NS, "viz", SPEC)
    inside, release = threading.Event(), threading.Event()

    def fail_first_pass(verb: str, kind: str, name: str) -> None:
        if (verb, kind) == ("apply", "ConfigMap") and not inside.is_set():
            inside.set()
            assert release.wait(10)
            raise RuntimeError("a bug, once")

    fake.on_call = fail_first_pass
    raised: list[BaseException] = []

    def first_pass() -> None:
        try:
            reconcile(NS, "viz", events, api=fake)
        except RuntimeError as error:
            raised.append(error)

    thread = threading.Thread(target=first_pass)
    thread.start()
    assert inside.wait(10)
    assert reconcile(NS, "viz", events, api=fake) is False  # the child event: folded into the running pass
    release.set()
    thread.join(10)
    assert raised
    # No further request: the retry alone brings the status.
    _wait_for(lambda: condition(fake.status_of(NS, "viz"), "Ready")["reason"] == "Unavailable"
              if fake.status_of(NS, "viz") else False)  # fmt: skip


def test_status_writes_of_a_deployment_skip_its_apply_but_hand_edits_are_reverted(
    fake: FakeKube, events: Events
) -> None:
    api = CachedApi(fake, CHILD_KINDS)
    fake.watchers.append(api.observe)
    fake.add_visualizer(NS, "viz", SPEC)
    reconcile(NS, "viz", events, api=api)
    fake.settle_deployment(NS, "viz")  # the deployment controller's status write
    fake.reset_calls()
    reconcile(NS, "viz", events, api=api)
    assert condition(fake.status_of(NS, "viz"), "Ready")["status"] == "True"
    assert [c for c in fake.calls if c[0] == "apply"] == []
    # A hand edit of the spec moves the generation: applied again, reverted.
    fake.edit("Deployment", NS, "viz", lambda d: d["spec"].update(replicas=5))
    reconcile(NS, "viz", events, api=api)
    assert fake.objects[("Deployment", NS, "viz")]["spec"]["replicas"] == 1
    # So is a hand edit of a label the operator sets (no new generation).
    label = next(iter(fake.objects[("Deployment", NS, "viz")]["metadata"]["labels"]))
    fake.edit("Deployment", NS, "viz", lambda d: d["metadata"]["labels"].update({label: "edited"}))
    fake.reset_calls()
    reconcile(NS, "viz", events, api=api)
    assert ("apply", "Deployment", "viz") in fake.calls
    assert fake.objects[("Deployment", NS, "viz")]["metadata"]["labels"][label] != "edited"
