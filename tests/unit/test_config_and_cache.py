"""The settings object, the entry point's options and the watch-cache reads."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from modelviz_operator.__main__ import parse_args
from modelviz_operator.cache import CachedApi, cached_copy
from modelviz_operator.config import Config
from modelviz_operator.constants import DEFAULT_BENCH_IMAGE
from tests.unit.fake_kube import CHILD_KINDS, FakeKube, refusal


def test_config_from_the_environment() -> None:
    assert Config.from_env({}) == Config()
    config = Config.from_env(
        {
            "MODELVIZ_NAMESPACES": "a, b,,",
            "MODELVIZ_RESYNC_SECONDS": "20",
            "MODELVIZ_CLUSTER_SCANNING": "False",
            "MODELVIZ_METRICS_PORT": "0",
            "MODELVIZ_FIELD_MANAGER": "mv",
            "MODELVIZ_BENCH_IMAGE": "registry.example/op:2",
            "KUBECONFIG": "/tmp/kc",
        }
    )
    assert config.namespaces == ("a", "b")
    assert config.resync_seconds == 20 and config.cluster_scanning is False and config.metrics_port == 0
    assert (config.field_manager, config.bench_image, config.kubeconfig) == ("mv", "registry.example/op:2", "/tmp/kc")
    assert Config().bench_image == DEFAULT_BENCH_IMAGE


def test_the_entry_point_takes_kopf_runs_options() -> None:
    args = parse_args(["--liveness=http://0.0.0.0:8080/healthz", "--log-format=json", "-n", "a", "--namespace=b"])
    assert args.liveness_endpoint == "http://0.0.0.0:8080/healthz" and args.log_format == "json"
    assert args.namespace == ["a", "b"] and not args.all_namespaces


def pod(name: str, instance: str, component: str = "visualizer", job: str | None = None) -> dict:
    labels = {
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "modelviz-operator",
    }
    if job:
        labels["job-name"] = job
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "team", "labels": labels, "managedFields": [{"manager": "x"}]},
        "spec": {"containers": [{"name": "big"}]},
        "status": {"phase": "Running"},
    }


def test_the_cache_keeps_what_the_status_reads() -> None:
    kept = cached_copy(pod("p", "viz"))
    assert "managedFields" not in kept["metadata"] and "spec" not in kept and kept["status"] == {"phase": "Running"}


def test_cached_reads_send_no_request_once_listed() -> None:
    fake = FakeKube()
    api = CachedApi(fake, CHILD_KINDS)
    fake.add(pod("early", "viz"))  # before the watch: found by the one listing
    fake.watchers.append(api.observe)
    for obj in (pod("a", "viz"), pod("b", "viz", "benchmark", job="j"), pod("c", "other")):
        fake.add(obj)
    selector = "app.kubernetes.io/instance=viz,app.kubernetes.io/component=visualizer"
    assert [p["metadata"]["name"] for p in api.list_objects("v1", "Pod", "team", selector)] == ["a", "early"]
    assert fake.calls == [("list", "Pod", "app.kubernetes.io/managed-by=modelviz-operator")]
    fake.reset_calls()
    assert [p["metadata"]["name"] for p in api.list_objects("v1", "Pod", "team", "job-name=j")] == ["b"]
    assert api.get("v1", "Pod", "team", "c") is not None
    fake.remove("Pod", "team", "a")
    assert [p["metadata"]["name"] for p in api.list_objects("v1", "Pod", "team", selector)] == ["early"]
    assert fake.calls == []
    # A miss may be an object the watch has not delivered yet: the API is asked.
    assert api.get("v1", "Pod", "team", "new") is None
    assert fake.calls == [("get", "Pod", "new")]
    # Not in the (listed) cache, so nothing to delete: no request.
    assert api.delete_owned("v1", "Pod", "team", "gone", "uid") is False
    assert fake.calls == [("get", "Pod", "new")]
    # A selector the cache cannot answer goes to the API.
    api.list_objects("v1", "Pod", "team", "app.kubernetes.io/instance!=viz")
    assert fake.calls[-1][0] == "list"


def test_a_kind_the_operator_may_not_list_fails_only_what_needs_it() -> None:
    fake = FakeKube()
    fake.refuse[("list", "PodDisruptionBudget")] = refusal(403, "poddisruptionbudgets.policy is forbidden")
    api = CachedApi(fake, CHILD_KINDS)
    with pytest.raises(ApiException):
        api.delete_owned("policy/v1", "PodDisruptionBudget", "team", "viz", "uid")
    assert api.list_objects("v1", "Pod", "team", "app.kubernetes.io/instance=viz") == []


def test_register_fills_only_the_registry_it_is_given() -> None:
    import kopf

    from modelviz_operator.handlers import CHILD_RESOURCES, register

    before = {h.id for h in kopf.get_default_registry()._watching._handlers}
    registry = kopf.OperatorRegistry()
    register(registry, Config())
    # kopf keeps per-handler state under these ids in annotations: they stay what they were.
    assert {h.id for h in registry._changing._handlers} == {"on_change"}
    assert [h.id for h in registry._spawning._handlers] == ["resync"]
    assert {h.id for h in registry._watching._handlers} == {"on_gone"} | {
        f"child-{p}" for _, _, p, _ in CHILD_RESOURCES
    }
    assert {h.id for h in kopf.get_default_registry()._watching._handlers} == before
