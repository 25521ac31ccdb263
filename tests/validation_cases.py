"""Invalid ModelVisualizer specs, each with the field the refusal must name and a word of the expected message.

One table for two checks: the real API server rejects each (tests/cluster/test_validation.py) and so does the
operator's pydantic model (tests/unit/test_validation_cases.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BASE", "INVALID", "spec_with"]

BASE: dict[str, Any] = {
    "models": [{"name": "lite0", "catalog": "efficientnet-lite0"}],
    "dataset": {"catalog": "imagenet-sample"},
}
BENCH = {"runId": "r1"}


def spec_with(**extra: Any) -> dict[str, Any]:
    spec = {**BASE}
    spec.update(extra)
    return spec


def _bench(**fields: Any) -> dict[str, Any]:
    return spec_with(benchmark={**BENCH, **fields})


def _evaluation(**fields: Any) -> dict[str, Any]:
    return spec_with(evaluation=fields)


def _resources(**fields: Any) -> dict[str, Any]:
    return spec_with(resources=fields)


# (id, spec, field the message names, text in the message)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    # models
    ("no-models", spec_with(models=[]), "spec.models", "at least 1"),
    (
        "nine-models",
        spec_with(models=[{"name": f"m{i}", "catalog": "resnet50"} for i in range(9)]),
        "spec.models",
        "at most 8",
    ),
    (
        "duplicate-model",
        spec_with(models=[{"name": "a", "catalog": "resnet50"}] * 2),
        "spec.models[1]",
        "Duplicate value",
    ),
    (
        "model-name-upper",
        spec_with(models=[{"name": "Lite", "catalog": "resnet50"}]),
        "spec.models[0].name",
        "should match",
    ),
    (
        "model-name-long",
        spec_with(models=[{"name": "a" * 41, "catalog": "resnet50"}]),
        "spec.models[0].name",
        "may not be more than 40",
    ),
    ("model-name-empty", spec_with(models=[{"name": "", "catalog": "resnet50"}]), "spec.models[0].name", "at least 1"),
    ("model-without-name", spec_with(models=[{"catalog": "resnet50"}]), "spec.models[0].name", "Required value"),
    (
        "model-both",
        spec_with(models=[{"name": "a", "catalog": "x", "path": "/m.keras"}]),
        "spec.models[0]",
        "exactly one of",
    ),
    ("model-neither", spec_with(models=[{"name": "a"}]), "spec.models[0]", "exactly one of"),
    (
        "model-path-no-labels",
        spec_with(models=[{"name": "a", "path": "/m.keras"}]),
        "spec.models[0].labels",
        "labels is required",
    ),
    (
        "model-claim-alone",
        spec_with(models=[{"name": "a", "catalog": "resnet50", "claimName": "c"}]),
        "spec.models[0].claimName",
        "needs path or weights",
    ),
    (
        "model-catalog-pattern",
        spec_with(models=[{"name": "a", "catalog": "Res Net"}]),
        "spec.models[0].catalog",
        "should match",
    ),
    (
        "model-claim-pattern",
        spec_with(models=[{"name": "a", "path": "m", "labels": "l", "claimName": "Bad_Claim"}]),
        "spec.models[0].claimName",
        "should match",
    ),
    (
        "model-unknown-field",
        spec_with(models=[{"name": "a", "catalog": "resnet50", "weight": "x"}]),
        "spec.models[0].weight",
        "unknown field",
    ),
    # dataset
    ("dataset-both", spec_with(dataset={"catalog": "x", "path": "/d"}), "spec.dataset", "exactly one of"),
    (
        "dataset-claim-catalog",
        spec_with(dataset={"catalog": "x", "claimName": "c"}),
        "spec.dataset.claimName",
        "claimName needs path",
    ),
    (
        "dataset-max-images-0",
        spec_with(dataset={"catalog": "x", "maxImages": 0}),
        "spec.dataset.maxImages",
        "greater than or equal to 1",
    ),
    ("dataset-missing", {"models": BASE["models"]}, "spec.dataset", "Required value"),
    # scale
    ("replicas-negative", spec_with(replicas=-1), "spec.replicas", "greater than or equal to 0"),
    ("replicas-too-many", spec_with(replicas=1001), "spec.replicas", "less than or equal to 1000"),
    ("replicas-string", spec_with(replicas="2"), "spec.replicas", "must be of type integer"),
    (
        "autoscaling-min-over-max",
        spec_with(autoscaling={"minReplicas": 4, "maxReplicas": 2}),
        "spec.autoscaling.minReplicas",
        "less than or equal",
    ),
    ("autoscaling-no-max", spec_with(autoscaling={"minReplicas": 1}), "spec.autoscaling.maxReplicas", "Required value"),
    (
        "autoscaling-cpu-0",
        spec_with(autoscaling={"maxReplicas": 3, "targetCPUUtilizationPercentage": 0}),
        "spec.autoscaling.targetCPUUtilizationPercentage",
        "greater than or equal to 1",
    ),
    (
        "replicas-outside-autoscaling",
        spec_with(replicas=9, autoscaling={"maxReplicas": 3}),
        "spec.replicas",
        "within autoscaling",
    ),
    # service
    ("service-type", spec_with(service={"type": "Ingress"}), "spec.service.type", "Unsupported value"),
    ("service-port-0", spec_with(service={"port": 0}), "spec.service.port", "greater than or equal to 1"),
    ("service-port-high", spec_with(service={"port": 65536}), "spec.service.port", "less than or equal to 65535"),
    (
        "node-port-cluster-ip",
        spec_with(service={"nodePort": 30001}),
        "spec.service.nodePort",
        "nodePort may only be set",
    ),
    (
        "node-port-range",
        spec_with(service={"type": "NodePort", "nodePort": 80}),
        "spec.service.nodePort",
        "greater than or equal to 30000",
    ),
    # image and pod
    ("image-space", spec_with(image="ghcr.io/modelviz/visualizer 0.1"), "spec.image", "should match"),
    ("image-scheme", spec_with(image="https://ghcr.io/modelviz/visualizer:0.1"), "spec.image", "should match"),
    ("image-upper-path", spec_with(image="ghcr.io/ModelViz/visualizer:0.1"), "spec.image", "should match"),
    ("image-empty-tag", spec_with(image="ghcr.io/modelviz/visualizer:"), "spec.image", "should match"),
    ("image-short-digest", spec_with(image="ghcr.io/modelviz/visualizer@sha256:abc"), "spec.image", "should match"),
    ("image-empty", spec_with(image=""), "spec.image", "at least 1"),
    ("pull-policy", spec_with(imagePullPolicy="Sometimes"), "spec.imagePullPolicy", "Unsupported value"),
    (
        "toleration-operator",
        spec_with(tolerations=[{"key": "k", "operator": "Maybe"}]),
        "spec.tolerations[0].operator",
        "Unsupported value",
    ),
    ("title-long", spec_with(title="t" * 121), "spec.title", "may not be more than 120"),
    ("suspend-string", spec_with(suspend="yes"), "spec.suspend", "must be of type boolean"),
    ("unknown-field", spec_with(replica=2), "spec.replica", "unknown field"),
    # resources: quantities (isQuantity and sign in CEL)
    (
        "quantity-word",
        _resources(requests={"cpu": "lots"}),
        "spec.resources.requests",
        "non-negative Kubernetes quantity",
    ),
    (
        "quantity-suffix",
        _resources(limits={"memory": "1GB"}),
        "spec.resources.limits",
        "non-negative Kubernetes quantity",
    ),
    (
        "quantity-lower-ki",
        _resources(limits={"memory": "64ki"}),
        "spec.resources.limits",
        "non-negative Kubernetes quantity",
    ),
    (
        "quantity-space",
        _resources(requests={"memory": "1 Gi"}),
        "spec.resources.requests",
        "non-negative Kubernetes quantity",
    ),
    (
        "quantity-negative",
        _resources(requests={"cpu": "-500m"}),
        "spec.resources.requests",
        "non-negative Kubernetes quantity",
    ),
    (
        "quantity-negative-int",
        _resources(requests={"cpu": -1}),
        "spec.resources.requests",
        "non-negative Kubernetes quantity",
    ),
    ("quantity-empty", _resources(requests={"cpu": ""}), "spec.resources.requests", "non-negative Kubernetes quantity"),
    (
        "quantity-two-points",
        _resources(requests={"cpu": "1.5.0"}),
        "spec.resources.requests",
        "non-negative Kubernetes quantity",
    ),
    (
        "quantity-bad-exponent",
        _resources(requests={"cpu": "1e"}),
        "spec.resources.requests",
        "non-negative Kubernetes quantity",
    ),
    # benchmark
    ("bench-run-id-pattern", _bench(runId="run 1"), "spec.benchmark.runId", "should match"),
    ("bench-run-id-missing", spec_with(benchmark={"requests": 10}), "spec.benchmark.runId", "Required value"),
    (
        "bench-concurrency",
        _bench(requests=10, concurrency=50),
        "spec.benchmark.concurrency",
        "must not exceed requests",
    ),
    ("bench-requests-0", _bench(requests=0, concurrency=1), "spec.benchmark.requests", "greater than or equal to 1"),
    ("bench-path", _bench(path="status page"), "spec.benchmark.path", "should match"),
    ("bench-timeout-short", _bench(timeoutSeconds=10), "spec.benchmark.timeoutSeconds", "greater than or equal to 30"),
    ("bench-keep-jobs", _bench(keepJobs=21), "spec.benchmark.keepJobs", "less than or equal to 20"),
    ("target-p99-zero", _bench(targets={"maxP99Ms": 0}), "spec.benchmark.targets.maxP99Ms", "greater than 0"),
    ("target-p99-negative", _bench(targets={"maxP99Ms": -5}), "spec.benchmark.targets.maxP99Ms", "greater than 0"),
    (
        "target-rps-negative",
        _bench(targets={"minRps": -1}),
        "spec.benchmark.targets.minRps",
        "greater than or equal to 0",
    ),
    ("targets-empty", _bench(targets={}), "spec.benchmark.targets", "at least 1"),
    ("gate-without-targets", _bench(gate=True), "spec.benchmark.gate", "gate needs targets"),
    ("gate-string", _bench(gate="on", targets={"minRps": 1}), "spec.benchmark.gate", "must be of type boolean"),
    # evaluation
    ("eval-targets-empty", _evaluation(targets={}), "spec.evaluation.targets", "at least 1"),
    (
        "eval-top1-above-1",
        _evaluation(targets={"minTop1": 1.5}),
        "spec.evaluation.targets.minTop1",
        "less than or equal to 1",
    ),
    (
        "eval-ece-negative",
        _evaluation(targets={"maxECE": -0.1}),
        "spec.evaluation.targets.maxECE",
        "greater than or equal to 0",
    ),
    ("eval-gate-without-targets", _evaluation(gate=True), "spec.evaluation.gate", "gate needs targets"),
    ("eval-run-id-pattern", _evaluation(runId="run 1"), "spec.evaluation.runId", "should match"),
    (
        "eval-timeout-short",
        _evaluation(timeoutSeconds=10),
        "spec.evaluation.timeoutSeconds",
        "greater than or equal to 60",
    ),
    ("eval-parallel-no-claim", _evaluation(parallelism=2), "spec.evaluation.parallelism", "needs predictionsClaim"),
    ("eval-parallelism-0", _evaluation(parallelism=0), "spec.evaluation.parallelism", "greater than or equal to 1"),
    (
        "eval-per-model-unknown",
        _evaluation(targets={"perModel": [{"model": "other", "minTop1": 0.5}]}),
        "spec.evaluation.targets.perModel",
        "must name a model",
    ),
    (
        "eval-per-model-no-target",
        _evaluation(targets={"perModel": [{"model": "lite0"}]}),
        "spec.evaluation.targets.perModel[0]",
        "at least 2",
    ),
]
