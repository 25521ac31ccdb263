"""The settings object, the entry point's options and the watch-cache reads."""

from __future__ import annotations

from modelviz_operator.__main__ import parse_args
from modelviz_operator.cache import CachedApi, cached_copy, index_keys
from modelviz_operator.config import Config
from modelviz_operator.constants import DEFAULT_BENCH_IMAGE
from tests.unit.fake_kube import FakeIndexes, FakeKube


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
    labels = {"app.kubernetes.io/instance": instance, "app.kubernetes.io/component": component}
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
    assert set(index_keys(pod("p", "viz", job="j"))) == {
        ("name", "team", "p"),
        ("app.kubernetes.io/instance", "team", "viz"),
        ("job-name", "team", "j"),
    }


def test_cached_reads_send_no_request_and_misses_are_confirmed() -> None:
    fake = FakeKube()
    for obj in (pod("a", "viz"), pod("b", "viz", "benchmark", job="j"), pod("c", "other")):
        fake.add(obj)
    api = CachedApi(fake)
    api.bind("Pod", FakeIndexes(fake, "Pod"))
    selector = "app.kubernetes.io/name=modelviz,app.kubernetes.io/instance=viz,app.kubernetes.io/component=visualizer"
    fake.add({**pod("a", "viz"), "metadata": {**pod("a", "viz")["metadata"], "labels": {
        "app.kubernetes.io/name": "modelviz", "app.kubernetes.io/instance": "viz",
        "app.kubernetes.io/component": "visualizer"}}})  # fmt: skip
    assert [p["metadata"]["name"] for p in api.list_objects("v1", "Pod", "team", selector)] == ["a"]
    assert [p["metadata"]["name"] for p in api.list_objects("v1", "Pod", "team", "job-name=j")] == ["b"]
    assert api.get("v1", "Pod", "team", "c") is not None
    assert fake.calls == []
    # A miss may be an object the watch has not delivered yet: the API is asked.
    assert api.get("v1", "Pod", "team", "new") is None
    assert fake.calls == [("get", "Pod", "new")]
    # Not cached, so nothing to delete: no request.
    assert api.delete_owned("v1", "Pod", "team", "gone", "uid") is False
    assert fake.calls == [("get", "Pod", "new")]
    # A selector the cache cannot answer goes to the API.
    api.list_objects("v1", "Pod", "team", "app.kubernetes.io/instance!=viz")
    assert fake.calls[-1][0] == "list"
