"""What the CRD's schema and CEL rules reject, on the real API server.

A table of invalid specs (tests/validation_cases.py), each refused with a message naming the field; and property
tests (hypothesis) that the generated CRD and the operator's pydantic model accept and reject the same documents,
checked by a server-side dry run of each generated document.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from modelviz_operator.api import ModelVisualizerSpec
from tests.kube_helpers import Kubectl
from tests.validation_cases import BASE, INVALID

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def api(cluster: Any, crd: str) -> Any:
    from kubernetes import client, config

    return client.CustomObjectsApi(config.new_client_from_config(config_file=str(cluster.kubeconfig)))


@pytest.fixture(scope="module")
def dry_namespace(kubectl: Kubectl) -> str:
    kubectl("create", "namespace", "validation", check=False)
    return "validation"


def server_verdict(api: Any, namespace: str, spec: dict[str, Any]) -> str | None:
    """None when the API server would store the object, else its message (a dry run: nothing is stored)."""
    from kubernetes.client.exceptions import ApiException

    body = {"apiVersion": "modelviz.io/v1alpha1", "kind": "ModelVisualizer", "metadata": {"name": "v"}, "spec": spec}
    try:
        api.create_namespaced_custom_object(
            "modelviz.io", "v1alpha1", namespace, "modelvisualizers", body, dry_run="All", field_validation="Strict"
        )
    except ApiException as exc:
        if exc.status not in (400, 422):
            raise
        return str(json.loads(exc.body or "{}").get("message"))
    return None


def model_verdict(spec: dict[str, Any]) -> str | None:
    try:
        ModelVisualizerSpec.model_validate(spec)
    except ValidationError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(("spec", "field", "text"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_api_server_rejects_naming_the_field(
    api: Any, dry_namespace: str, spec: dict[str, Any], field: str, text: str
) -> None:
    message = server_verdict(api, dry_namespace, spec)
    assert message is not None, "the API server accepted an invalid spec"
    assert field in message and text in message, message


def test_the_base_spec_is_accepted(api: Any, dry_namespace: str) -> None:
    assert server_verdict(api, dry_namespace, BASE) is None


# -- property tests ----------------------------------------------------------------------------------------------

_QUANTITY_TEXT = st.text(alphabet="0123456789.+-eEinumkKMGTP ", max_size=6)
_QUANTITY = st.one_of(
    _QUANTITY_TEXT, st.integers(-3, 5000), st.sampled_from(["500m", "1Gi", "64Mi", "2", "1e3", "0.5"])
)
_NAME = st.sampled_from(["a", "lite0", "A", "a-", "-a", "a_b", "a" * 40, "a" * 41, ""])
_INT = st.sampled_from([-1, 0, 1, 2, 3, 29, 30, 50, 1000, 1001, 5000, 20000, 20001, 30000, 32767, 65535, 65536])
# wrong JSON types (None: leave the field out)
_ODD: st.SearchStrategy[Any] = st.sampled_from(["1", 1.5, True, None, [], {}])
_IMAGE_TEXT = st.text(alphabet="abcXYZ019:/@._- ", min_size=1, max_size=24)
_IMAGE = st.one_of(
    _IMAGE_TEXT,
    st.sampled_from(
        [
            "ghcr.io/modelviz/visualizer:0.1.0",
            "localhost:5000/viz",
            "viz",
            "viz:latest",
            "registry.example.com/team/viz@sha256:" + "a" * 64,
            "Registry.Example.com/team/viz:1",
            "viz:" + "t" * 129,
            "a__b/c--d",
            "a___b",
        ]
    ),
)


def _mostly(valid: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid three times in four: a document is valid only when every field is, and both outcomes must occur."""
    return st.one_of(valid, valid, valid, anything)


def _model() -> st.SearchStrategy[dict[str, Any]]:
    valid = st.one_of(
        st.fixed_dictionaries({"name": st.sampled_from(["a", "lite0"]), "catalog": st.just("resnet50")}),
        st.fixed_dictionaries({"name": st.just("mine"), "path": st.just("/m.keras"), "labels": st.just("/l.txt")}),
    )
    return _mostly(valid, _any_model())


def _any_model() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": _NAME},
        optional={
            "catalog": st.sampled_from(["resnet50", "x", "Bad Name", ""]),
            "path": st.sampled_from(["/m.keras", ""]),
            "labels": st.sampled_from(["/l.txt", ""]),
            "weights": st.sampled_from(["/w.h5"]),
            "claimName": st.sampled_from(["models", "Bad_Claim"]),
        },
    )


def _spec() -> st.SearchStrategy[dict[str, Any]]:
    targets = st.fixed_dictionaries(
        {},
        optional={
            "minRps": st.sampled_from([-1, 0, 0.5, 850]),
            "maxP99Ms": st.sampled_from([-1, 0, 0.001, 175]),
        },
    )
    bench = st.fixed_dictionaries(
        {"runId": st.sampled_from(["r1", "run 1", "r.1", "-r"])},
        optional={
            "requests": _INT,
            "concurrency": _INT,
            "path": st.sampled_from(["/", "/a b", "x", "/_stcore/health"]),
            "timeoutSeconds": _INT,
            "requestTimeoutSeconds": _INT,
            "keepJobs": st.sampled_from([-1, 0, 20, 21]),
            "onRollout": st.booleans(),
            "gate": st.one_of(st.booleans(), st.just("on")),
            "targets": targets,
        },
    )
    return st.fixed_dictionaries(
        {
            "models": _mostly(
                st.lists(_model(), min_size=1, max_size=2, unique_by=lambda m: m.get("name")),
                st.lists(_model(), max_size=3),
            ),
            "dataset": _mostly(
                st.just({"catalog": "imagenet-sample"}),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "catalog": st.sampled_from(["imagenet-sample", "Bad"]),
                        "path": st.just("/d"),
                        "claimName": st.just("photos"),
                        "maxImages": st.sampled_from([0, 1, 1_000_000, 1_000_001]),
                    },
                ),
            ),
        },
        optional={
            "replicas": _mostly(st.integers(0, 3), st.one_of(_INT, _ODD)),
            "autoscaling": _mostly(
                st.just({"maxReplicas": 3}),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "minReplicas": _INT,
                        "maxReplicas": _INT,
                        "targetCPUUtilizationPercentage": st.sampled_from([0, 1, 80, 100, 101]),
                    },
                ),
            ),
            "service": _mostly(
                st.just({"type": "NodePort", "port": 8080}),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "type": st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "Ingress"]),
                        "port": _INT,
                        "nodePort": _INT,
                    },
                ),
            ),
            "image": _mostly(st.just("ghcr.io/modelviz/visualizer:0.1.0"), _IMAGE),
            "resources": _mostly(
                st.just({"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}}),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "requests": st.dictionaries(st.sampled_from(["cpu", "memory", "example.com/gpu"]), _QUANTITY),
                        "limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), _QUANTITY),
                    },
                ),
            ),
            "title": _mostly(st.just("t"), st.sampled_from(["t" * 120, "t" * 121])),
            "suspend": _mostly(st.booleans(), st.just("yes")),
            "benchmark": _mostly(st.just({"runId": "r1", "targets": {"maxP99Ms": 175}}), bench),
        },
    )


def _drop_none(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _drop_none(v) for k, v in doc.items() if v is not None}
    if isinstance(doc, list):
        return [_drop_none(v) for v in doc]
    return doc


def _agree(api: Any, namespace: str, spec: dict[str, Any]) -> None:
    spec = _drop_none(copy.deepcopy(spec))
    server, model = server_verdict(api, namespace, spec), model_verdict(spec)
    event("accepted" if server is None else "rejected")  # --hypothesis-show-statistics: both must occur
    assert (server is None) == (model is None), (
        f"API server {'accepts' if server is None else 'rejects'} and the model "
        f"{'accepts' if model is None else 'rejects'}:\n{json.dumps(spec)}\nserver: {server}\nmodel: {model}"
    )


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=_spec())
def test_model_and_crd_agree_on_generated_specs(api: Any, dry_namespace: str, spec: dict[str, Any]) -> None:
    _agree(api, dry_namespace, spec)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.dictionaries(st.sampled_from(["cpu", "memory"]), _QUANTITY, max_size=2), image=_IMAGE)
def test_model_and_crd_agree_on_quantities_and_images(
    api: Any, dry_namespace: str, requests: dict[str, Any], image: str
) -> None:
    _agree(api, dry_namespace, {**BASE, "image": image, "resources": {"requests": requests}})


# Quantities at the edges of ParseQuantity's fast and slow paths: a suffix alone parses only where the fast path
# (int64 arithmetic on the digits) applies, which depends on the suffix's exponent.
@pytest.mark.parametrize(
    "quantity",
    ["Ki", "Mi", "Ti", "Pi", "Ei", "E", "1Ei", ".Ei", "0.1n", ".1n", "1.5Gi", "-", ".", "1.", "e3", "9" * 19],
)
def test_model_and_crd_agree_on_edge_quantities(api: Any, dry_namespace: str, quantity: str) -> None:
    spec = {**BASE, "resources": {"requests": {"cpu": quantity}}}
    server, model = server_verdict(api, dry_namespace, spec), model_verdict(spec)
    assert (server is None) == (model is None), f"{quantity!r}: server {server!r}, model {model!r}"
