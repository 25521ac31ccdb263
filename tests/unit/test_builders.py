"""Builders: spec -> manifests, without a cluster."""

from __future__ import annotations

from typing import Any

import yaml

from modelviz_operator.api import ModelVisualizerSpec
from modelviz_operator.builders import (
    Owner,
    app_config,
    build_children,
    build_configmap,
    build_deployment,
    build_hpa,
    build_pdb,
    build_service,
)

OWNER = Owner(name="viz", namespace="team", uid="1234")


def spec(**extra: Any) -> ModelVisualizerSpec:
    body: dict[str, Any] = {
        "models": [{"name": "lite0", "catalog": "efficientnet-lite0"}],
        "dataset": {"catalog": "imagenet-sample"},
    }
    body.update(extra)
    return ModelVisualizerSpec.model_validate(body)


def test_every_child_is_owned_and_labelled() -> None:
    children = build_children(OWNER, spec(replicas=2))
    kinds = [m["kind"] for m in children.apply]
    assert kinds == ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]
    assert children.absent == (
        ("autoscaling/v2", "HorizontalPodAutoscaler", "viz"),
        ("networking.k8s.io/v1", "Ingress", "viz"),
    )
    for manifest in children.apply:
        meta = manifest["metadata"]
        assert meta["namespace"] == "team"
        assert meta["ownerReferences"][0]["uid"] == "1234"
        assert meta["ownerReferences"][0]["controller"] is True
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "modelviz-operator"
        assert meta["labels"]["app.kubernetes.io/instance"] == "viz"


def test_deployment_probes_security_and_config_mount() -> None:
    deployment = build_deployment(OWNER, spec(replicas=3))
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/_stcore/health"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # model loading may take minutes
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/etc/modelviz" in mounts
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODELVIZ_CONFIG"] == "/etc/modelviz/config.yaml"
    assert container["resources"]["requests"]["cpu"] == "500m"
    # The writable cache starts as a copy of what the image baked (converted weights, trained models).
    (seed,) = pod["initContainers"]
    assert "/opt/modelviz/cache/." in seed["command"][-1] and "/var/cache/modelviz/" in seed["command"][-1]
    assert seed["securityContext"] == container["securityContext"]


def test_config_change_changes_the_template_hash() -> None:
    one = build_deployment(OWNER, spec())
    two = build_deployment(OWNER, spec(models=[{"name": "lite1", "catalog": "efficientnet-lite1"}]))
    key = "modelviz.io/config-hash"
    assert (
        one["spec"]["template"]["metadata"]["annotations"][key]
        != two["spec"]["template"]["metadata"]["annotations"][key]
    )
    # Replicas are not configuration: scaling must not roll the pods.
    three = build_deployment(OWNER, spec(replicas=5))
    assert one["spec"]["template"] == three["spec"]["template"]


def test_configmap_resolves_claim_paths() -> None:
    cm = build_configmap(
        OWNER,
        spec(
            models=[{"name": "mine", "path": "model.keras", "labels": "labels.txt", "claimName": "models"}],
            dataset={"path": "val", "claimName": "data", "maxImages": 100},
        ),
    )
    config = yaml.safe_load(cm["data"]["config.yaml"])
    assert config["models"][0]["path"] == "/mnt/modelviz/models/mine/model.keras"
    assert config["models"][0]["labels"] == "/mnt/modelviz/models/mine/labels.txt"
    assert config["dataset"] == {"path": "/mnt/modelviz/dataset/val", "maxImages": 100}
    deployment = build_deployment(
        OWNER,
        spec(
            models=[{"name": "mine", "path": "model.keras", "labels": "labels.txt", "claimName": "models"}],
            dataset={"path": "val", "claimName": "data"},
        ),
    )
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["model-mine"]["persistentVolumeClaim"] == {"claimName": "models", "readOnly": True}
    assert volumes["dataset"]["persistentVolumeClaim"] == {"claimName": "data", "readOnly": True}


def test_app_config_validates_against_the_visualizers_model() -> None:
    import pytest

    app_config_module = pytest.importorskip("modelviz_app.config", reason="the app extra is not installed")
    config = app_config(spec(models=[{"name": "a", "catalog": "mobilenet_v2", "weights": "/w.h5"}], title="T"))
    parsed = app_config_module.AppConfig.model_validate(config)
    assert parsed.models[0].name == "a"


def test_service_types_ports_and_affinity() -> None:
    service = build_service(
        OWNER,
        spec(service={"type": "LoadBalancer", "port": 80, "nodePort": 30080, "annotations": {"lb": "internal"}}),
    )
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP", "nodePort": 30080}
    ]
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert service["metadata"]["annotations"] == {"lb": "internal"}


def test_autoscaling_owns_replicas() -> None:
    scaled = spec(replicas=2, autoscaling={"minReplicas": 2, "maxReplicas": 6})
    assert "replicas" not in build_deployment(OWNER, scaled)["spec"]
    hpa = build_hpa(OWNER, scaled)
    assert hpa is not None
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "viz"}
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 80
    assert build_pdb(OWNER, scaled) is not None


def test_pdb_only_with_two_or_more_and_suspend_scales_to_zero() -> None:
    assert build_pdb(OWNER, spec(replicas=1)) is None
    assert build_pdb(OWNER, spec(replicas=2)) is not None
    suspended = spec(replicas=4, suspend=True, autoscaling={"minReplicas": 2, "maxReplicas": 6})
    assert build_deployment(OWNER, suspended)["spec"]["replicas"] == 0
    assert build_hpa(OWNER, suspended) is None
    assert build_pdb(OWNER, suspended) is None
    assert build_deployment(OWNER, spec(replicas=0))["spec"]["replicas"] == 0


def test_scheduling_fields_pass_through() -> None:
    deployment = build_deployment(
        OWNER,
        spec(
            nodeSelector={"pool": "cpu"},
            tolerations=[{"key": "dedicated", "operator": "Equal", "value": "viz", "effect": "NoSchedule"}],
            resources={"requests": {"cpu": 1, "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
            podAnnotations={"sidecar.istio.io/inject": "false"},
            image="registry.example.com/viz:2",
            imagePullPolicy="Always",
        ),
    )
    pod = deployment["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"pool": "cpu"}
    assert pod["spec"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "viz", "effect": "NoSchedule"}
    ]
    container = pod["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": 1, "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
    assert container["image"] == "registry.example.com/viz:2" and container["imagePullPolicy"] == "Always"
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
