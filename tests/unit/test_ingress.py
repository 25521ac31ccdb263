"""The optional Ingress: its manifest, the cookie-affinity defaults, and the URL once it has an address."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelviz_operator.api import ModelVisualizerSpec
from modelviz_operator.builders import Owner, build_children, build_ingress, ingress_url
from modelviz_operator.builders.ingress import NGINX_AFFINITY

OWNER = Owner(name="viz", namespace="team", uid="1234")


def spec(**extra: Any) -> ModelVisualizerSpec:
    body: dict[str, Any] = {
        "models": [{"name": "lite0", "catalog": "efficientnet-lite0"}],
        "dataset": {"catalog": "imagenet-sample"},
    }
    body.update(extra)
    return ModelVisualizerSpec.model_validate(body)


def test_no_ingress_unless_asked_and_deleted_when_dropped() -> None:
    children = build_children(OWNER, spec())
    assert "Ingress" not in [m["kind"] for m in children.apply]
    assert ("networking.k8s.io/v1", "Ingress", "viz") in children.absent
    assert build_ingress(OWNER, spec()) is None


def test_ingress_routes_to_the_service_with_cookie_affinity() -> None:
    ingress = build_ingress(OWNER, spec(ingress={"host": "viz.example.com", "className": "nginx"}))
    assert ingress is not None
    assert ingress["metadata"]["ownerReferences"][0]["uid"] == "1234"
    assert ingress["metadata"]["annotations"] == NGINX_AFFINITY
    assert NGINX_AFFINITY["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    body = ingress["spec"]
    assert body["ingressClassName"] == "nginx" and "tls" not in body
    (rule,) = body["rules"]
    assert rule["host"] == "viz.example.com"
    (path,) = rule["http"]["paths"]
    assert path == {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": "viz", "port": {"name": "http"}}},
    }
    assert "Ingress" in [m["kind"] for m in build_children(OWNER, spec(ingress={"host": "a.b"})).apply]


def test_tls_annotations_override_and_affinity_off() -> None:
    tls = {"host": "viz.example.com", "tls": True, "tlsSecretName": "viz-cert", "path": "/viz"}
    custom = {"nginx.ingress.kubernetes.io/session-cookie-name": "mine", "team": "ml"}
    ingress = build_ingress(OWNER, spec(ingress={**tls, "annotations": custom}))
    assert ingress is not None
    assert ingress["spec"]["tls"] == [{"hosts": ["viz.example.com"], "secretName": "viz-cert"}]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/session-cookie-name"] == "mine" and annotations["team"] == "ml"
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    plain = build_ingress(OWNER, spec(ingress={"host": "viz.example.com", "cookieAffinity": False}))
    assert plain is not None and "annotations" not in plain["metadata"]


def test_url_only_once_the_controller_gave_an_address() -> None:
    with_tls = spec(ingress={"host": "viz.example.com", "tls": True, "tlsSecretName": "c", "path": "/viz"})
    pending: dict[str, Any] = {"status": {"loadBalancer": {}}}
    assert ingress_url(with_tls, pending) is None
    assert ingress_url(with_tls, None) is None
    served = {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}}
    assert ingress_url(with_tls, served) == "https://viz.example.com/viz/"
    assert ingress_url(spec(ingress={"host": "viz.example.com"}), served) == "http://viz.example.com/"
    assert ingress_url(spec(), served) is None


def test_spec_fields_are_checked() -> None:
    with pytest.raises(ValidationError, match="path"):
        spec(ingress={"host": "viz.example.com", "path": "no-slash"})
    with pytest.raises(ValidationError, match="host"):
        spec(ingress={})
