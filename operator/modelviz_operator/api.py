"""The ModelVisualizer API, written once: the CRD in ``crds/`` is generated from these models.

Field descriptions become ``kubectl explain`` text; ``cel`` rules become ``x-kubernetes-validations`` enforced by the
API server. The operator parses every object it receives with :class:`ModelVisualizerSpec`, so what the API server
accepts and what the operator understands cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .quantity import is_nonnegative_quantity

__all__ = [
    "API_VERSION",
    "CATALOG_DATASETS",
    "CATALOG_MODELS",
    "GROUP",
    "KIND",
    "PLURAL",
    "SHORT_NAME",
    "VERSION",
    "Autoscaling",
    "BenchmarkSpec",
    "BenchmarkStatus",
    "BenchmarkTargets",
    "Condition",
    "DatasetRef",
    "IngressSpec",
    "ModelRef",
    "ModelVisualizerSpec",
    "ModelVisualizerStatus",
    "ResourceRequirements",
    "ServiceSpec",
    "Toleration",
    "cel",
]

GROUP = "modelviz.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelVisualizer"
PLURAL = "modelvisualizers"
SINGULAR = "modelvisualizer"
SHORT_NAME = "mviz"

DEFAULT_IMAGE = "ghcr.io/modelviz/visualizer:0.1.0"

# Names the visualizer knows how to load; a name outside these is not a schema error (the catalog grows with the
# app image) but makes the resource Degraded with reason UnknownCatalogModel.
CATALOG_MODELS: tuple[str, ...] = (
    "efficientnet-lite0",
    "efficientnet-lite1",
    "efficientnet-lite2",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "resnet50",
    "efficientnet_b0",
    "fashion-cnn",
    "fashion-mobilenet_v2",
)
CATALOG_DATASETS: tuple[str, ...] = ("imagenet-sample", "fashion-mnist")

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CATALOG_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
# An image reference as container runtimes parse it (distribution's reference grammar, ASCII classes only so that
# the API server's RE2 and pydantic's regex agree): [registry[:port]/]path[:tag][@digest], no spaces, no scheme.
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?"
)
IMAGE_REFERENCE = (
    rf"^(?:{_IMAGE_DOMAIN}/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


def cel(rule: str, message: str, field_path: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry."""
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    if reason:
        entry["reason"] = reason
    return entry


class _Model(BaseModel):
    # strict: no "3" for 3 or 1 for true, as the API server's schema check allows neither. The model validators
    # below mirror the CEL rules, so the operator accepts exactly what the API server does (a property test checks).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True)


class ModelRef(_Model):
    """A classifier to show: a catalog name, or a Keras model file with its labels file."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.catalog) != has(self.path)", "exactly one of catalog or path must be set"),
                cel("!has(self.path) || has(self.labels)", "labels is required with path", ".labels"),
                cel(
                    "!has(self.claimName) || has(self.path) || has(self.weights)",
                    "claimName needs path or weights to point into the volume",
                    ".claimName",
                ),
            ]
        }
    )

    name: str = Field(
        description="Unique name of this model in the resource, shown in the visualizer (a DNS label).",
        min_length=1,
        max_length=40,
        pattern=DNS_LABEL,
    )
    catalog: str | None = Field(
        default=None,
        description=(
            "A model the visualizer ships or builds: efficientnet-lite0/1/2 (ImageNet weights included), "
            "mobilenet, mobilenet_v2, mobilenet_v3_small, mobilenet_v3_large, resnet50, efficientnet_b0 "
            "(ImageNet architectures; weights from `weights`), fashion-cnn, fashion-mobilenet_v2 (Fashion-MNIST)."
        ),
        max_length=63,
        pattern=CATALOG_NAME,
    )
    path: str | None = Field(
        default=None,
        description="Path of a .keras or .h5 model file in the pod; relative to the volume when claimName is set.",
        min_length=1,
        max_length=1024,
    )
    labels: str | None = Field(
        default=None,
        description="Path of the class-names file (one per line) for a model given by path.",
        min_length=1,
        max_length=1024,
    )
    weights: str | None = Field(
        default=None,
        description="Path of a weights file for a catalog architecture (e.g. MobileNet ImageNet weights).",
        min_length=1,
        max_length=1024,
    )
    claim_name: str | None = Field(
        default=None,
        description="PersistentVolumeClaim holding this model's files, mounted read-only.",
        max_length=253,
        pattern=DNS_LABEL,
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if (self.catalog is None) == (self.path is None):
            raise ValueError("exactly one of catalog or path must be set")
        if self.path is not None and self.labels is None:
            raise ValueError("labels: labels is required with path")
        if self.claim_name is not None and self.path is None and self.weights is None:
            raise ValueError("claimName: claimName needs path or weights to point into the volume")
        return self


class DatasetRef(_Model):
    """Labelled images to evaluate the models on."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.catalog) != has(self.path)", "exactly one of catalog or path must be set"),
                cel("!has(self.claimName) || has(self.path)", "claimName needs path", ".claimName"),
            ]
        }
    )

    catalog: str | None = Field(
        default=None,
        description="A dataset the visualizer ships: imagenet-sample (real photos) or fashion-mnist (test split).",
        max_length=63,
        pattern=CATALOG_NAME,
    )
    path: str | None = Field(
        default=None,
        description=(
            "Image-folder dataset (one folder per class, named by ImageNet wnid or class name); "
            "relative to the volume when claimName is set."
        ),
        min_length=1,
        max_length=1024,
    )
    claim_name: str | None = Field(
        default=None,
        description="PersistentVolumeClaim holding the dataset, mounted read-only.",
        max_length=253,
        pattern=DNS_LABEL,
    )
    max_images: int | None = Field(
        default=None, description="Evaluate at most this many images (a stratified sample).", ge=1, le=1_000_000
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if (self.catalog is None) == (self.path is None):
            raise ValueError("exactly one of catalog or path must be set")
        if self.claim_name is not None and self.path is None:
            raise ValueError("claimName: claimName needs path")
        return self


class Autoscaling(_Model):
    """A HorizontalPodAutoscaler for the visualizer; while set, it owns the replica count."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.minReplicas <= self.maxReplicas",
                    "minReplicas must be less than or equal to maxReplicas",
                    ".minReplicas",
                ),
            ]
        }
    )

    min_replicas: int = Field(default=1, description="Fewest replicas the autoscaler keeps.", ge=1, le=1000)
    max_replicas: int = Field(description="Most replicas the autoscaler may run.", ge=1, le=1000)
    target_cpu_utilization_percentage: int = Field(
        default=80,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU utilization (percent of requests) to aim for.",
        ge=1,
        le=100,
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas: minReplicas must be less than or equal to maxReplicas")
        return self


class ServiceSpec(_Model):
    """How the visualizer is exposed."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.nodePort) || self.type != 'ClusterIP'",
                    "nodePort may only be set when type is NodePort or LoadBalancer",
                    ".nodePort",
                ),
            ]
        }
    )

    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = Field(
        default="ClusterIP", description="Service type: ClusterIP, NodePort or LoadBalancer."
    )
    port: int = Field(default=80, description="Port the Service listens on (the app listens on 8501).", ge=1, le=65535)
    node_port: int | None = Field(
        default=None, description="Fixed node port (NodePort or LoadBalancer only).", ge=30000, le=32767
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations for the Service, e.g. a cloud load balancer's settings.",
        json_schema_extra={"maxProperties": 64},
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.node_port is not None and self.type == "ClusterIP":
            raise ValueError("nodePort: nodePort may only be set when type is NodePort or LoadBalancer")
        return self


class IngressSpec(_Model):
    """An Ingress in front of the Service, with cookie session affinity (ingress-nginx annotations by default)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.host.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')"
                    " && !self.host.matches('^[0-9.]+$')",
                    "host must be a lowercase DNS name such as viz.example.com (no IP address, no wildcard)",
                    ".host",
                    "FieldValueInvalid",
                ),
                cel(
                    "!self.tls || has(self.tlsSecretName)",
                    "tlsSecretName is required when tls is true",
                    ".tlsSecretName",
                    "FieldValueRequired",
                ),
            ]
        }
    )

    host: str = Field(description="Host name the visualizer is served at, e.g. viz.example.com.", max_length=253)
    path: str = Field(
        default="/", description="URL path prefix (the app is served under it).", max_length=1024, pattern=r"^/\S*$"
    )
    path_type: Literal["Prefix", "ImplementationSpecific"] = Field(
        default="Prefix", description="Ingress pathType: Prefix or ImplementationSpecific."
    )
    class_name: str | None = Field(
        default=None, description="IngressClass to use (default: the cluster's default class).", max_length=253
    )
    tls: bool = Field(default=False, description="Serve HTTPS with the certificate in tlsSecretName.")
    tls_secret_name: str | None = Field(
        default=None,
        description="Secret (type kubernetes.io/tls) holding the certificate for host; required with tls.",
        max_length=253,
        pattern=DNS_LABEL,
    )
    cookie_affinity: bool = Field(
        default=True,
        description=(
            "Pin each browser session to one replica with a cookie (ingress-nginx annotations; Streamlit sessions "
            "live in one pod). Other controllers: set their annotations, see the README."
        ),
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations for the Ingress; they override the cookie-affinity defaults.",
        json_schema_extra={"maxProperties": 64},
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        # The same rules as the CEL above, so the operator accepts exactly what the API server does.
        if not _INGRESS_HOST.fullmatch(self.host) or re.fullmatch(r"[0-9.]+", self.host):
            raise ValueError(
                "host: host must be a lowercase DNS name such as viz.example.com (no IP address, no wildcard)"
            )
        if self.tls and self.tls_secret_name is None:
            raise ValueError("tlsSecretName: tlsSecretName is required when tls is true")
        return self


_INGRESS_HOST = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


# A string quantity is short; the bound also keeps the CEL rules below within the API server's cost budget.
Quantity = int | Annotated[str, StringConstraints(max_length=64)]
_QUANTITIES = cel(
    "self.all(k, isQuantity(string(self[k])) && !quantity(string(self[k])).isLessThan(quantity('0')))",
    "every value must be a non-negative Kubernetes quantity, e.g. 500m, 2 or 1Gi",
)


def _check_quantities(values: dict[str, Quantity]) -> dict[str, Quantity]:
    bad = sorted(k for k, v in values.items() if not is_nonnegative_quantity(v))
    if bad:
        raise ValueError(f"{_QUANTITIES['message']} (not one: {', '.join(bad)})")
    return values


class ResourceRequirements(_Model):
    """CPU and memory for each visualizer pod (Kubernetes quantities)."""

    requests: dict[str, Quantity] = Field(
        default_factory=dict,
        description="Minimum resources, e.g. {cpu: 500m, memory: 1Gi}.",
        json_schema_extra={"maxProperties": 16, "x-kubernetes-validations": [_QUANTITIES]},
    )
    limits: dict[str, Quantity] = Field(
        default_factory=dict,
        description="Maximum resources, e.g. {memory: 3Gi}.",
        json_schema_extra={"maxProperties": 16, "x-kubernetes-validations": [_QUANTITIES]},
    )

    _quantities = field_validator("requests", "limits")(_check_quantities)


class Toleration(_Model):
    """A pod toleration, as in the core API."""

    key: str | None = Field(default=None, description="Taint key to tolerate; empty with Exists tolerates all.")
    operator: Literal["Exists", "Equal"] | None = Field(default=None, description="Exists or Equal (default).")
    value: str | None = Field(default=None, description="Taint value to match with Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to match; empty matches all."
    )
    toleration_seconds: int | None = Field(default=None, description="How long a NoExecute taint is tolerated.")


class BenchmarkTargets(_Model):
    """Service-level targets a benchmark run must meet; missing one sets BenchmarkPassed to False."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    min_rps: float | None = Field(default=None, description="Lowest acceptable requests per second.", ge=0)
    max_p99_ms: float | None = Field(
        default=None,
        description="Highest acceptable 99th percentile latency (ms); above 0, since no run can meet 0 ms.",
        gt=0,
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.min_rps is None and self.max_p99_ms is None:
            raise ValueError("set minRps or maxP99Ms (or leave targets out)")
        return self


class BenchmarkSpec(_Model):
    """An Apache Bench run against the visualizer's Service; each new runId starts exactly one run."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("self.concurrency <= self.requests", "concurrency must not exceed requests", ".concurrency"),
                cel("!has(self.gate) || !self.gate || has(self.targets)", "gate needs targets to gate on", ".gate"),
            ]
        }
    )

    run_id: str = Field(
        description="Identifier of the run: change it (e.g. in a Git commit) to run the benchmark again.",
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
    )
    scenario: Literal["page", "health", "predict"] = Field(
        default="page",
        description=(
            "What to load: page (GET path, the page shell), health (GET /_stcore/health) or predict (POST a sample "
            "photo to /api/v1/predict with ab -p: the models' inference throughput and latency)."
        ),
    )
    requests: int = Field(default=5000, description="Number of requests (ab -n).", ge=1, le=10_000_000)
    concurrency: int = Field(default=50, description="Concurrent requests (ab -c).", ge=1, le=20_000)
    path: str = Field(
        default="/",
        description="HTTP path to request (scenario page).",
        min_length=1,
        max_length=2048,
        pattern=r"^/[^\s]*$",
    )
    keep_alive: bool = Field(default=False, description="Use HTTP keep-alive (ab -k).")
    timeout_seconds: int = Field(
        default=900, description="Deadline of the whole run (the Job's activeDeadlineSeconds).", ge=30, le=86_400
    )
    request_timeout_seconds: int = Field(default=30, description="Timeout of one request (ab -s).", ge=1, le=3600)
    targets: BenchmarkTargets | None = Field(default=None, description="Targets that decide BenchmarkPassed.")
    keep_jobs: int = Field(default=3, description="Finished benchmark Jobs to keep for debugging.", ge=0, le=20)
    on_rollout: bool = Field(
        default=False,
        description=(
            "Run again after each completed rollout of the visualizer; runs are then named <runId>.rev<revision>."
        ),
    )
    gate: bool | None = Field(
        default=None,
        description=(
            "Whether the run gates the resource (default: true when targets are set): while it is pending or "
            "running the resource is Reconciling (Argo CD Progressing), a missed target makes it Stalled (Argo CD "
            "Degraded, kstatus Failed). False: results only inform."
        ),
    )

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.concurrency > self.requests:
            raise ValueError("concurrency: concurrency must not exceed requests")
        if self.gate and self.targets is None:
            raise ValueError("gate: gate needs targets to gate on")
        return self

    @property
    def gating(self) -> bool:
        """Whether runs gate the resource: ``gate`` if set, else whether there are targets."""
        return self.gate if self.gate is not None else self.targets is not None


class ModelVisualizerSpec(_Model):
    """Desired state of a visualizer: models, dataset, scale, exposure and benchmark."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.autoscaling) || self.replicas == 0 || "
                    "(self.replicas >= self.autoscaling.minReplicas && self.replicas <= self.autoscaling.maxReplicas)",
                    "replicas must lie within autoscaling.minReplicas..maxReplicas (or be 0 to scale to zero)",
                    ".replicas",
                ),
            ]
        }
    )

    models: list[ModelRef] = Field(
        description="Classifiers to compare (1 to 8, unique names).",
        min_length=1,
        max_length=8,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    dataset: DatasetRef = Field(description="Labelled images the models are evaluated on.")
    title: str | None = Field(default=None, description="Title shown in the visualizer.", max_length=120)
    replicas: int = Field(default=1, description="Visualizer pods; 0 scales to zero.", ge=0, le=1000)
    autoscaling: Autoscaling | None = Field(default=None, description="Scale with CPU load between min and max.")
    service: ServiceSpec = Field(
        default_factory=ServiceSpec, description="How the visualizer is exposed.", json_schema_extra={"default": {}}
    )
    ingress: IngressSpec | None = Field(default=None, description="An Ingress for the visualizer (optional).")
    image: str = Field(
        default=DEFAULT_IMAGE,
        description="Container image of the visualizer: [registry[:port]/]path[:tag][@digest], no spaces.",
        min_length=1,
        max_length=512,
        pattern=IMAGE_REFERENCE,
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, description="Image pull policy of the visualizer container."
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory for each pod (defaults suit 1-2 small models)."
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels the pods must run on.", json_schema_extra={"maxProperties": 32}
    )
    tolerations: list[Toleration] = Field(default_factory=list, description="Taints the pods tolerate.", max_length=32)
    pod_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Extra annotations on the visualizer pods (e.g. for a service mesh or a node simulator).",
        json_schema_extra={"maxProperties": 64},
    )
    suspend: bool = Field(default=False, description="Scale to zero and start no benchmark, keeping everything else.")
    benchmark: BenchmarkSpec | None = Field(default=None, description="Apache Bench load test of the visualizer.")

    @model_validator(mode="after")
    def _rules(self) -> Self:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("models: model names must be unique")
        scaling = self.autoscaling
        if (
            scaling is not None
            and self.replicas != 0
            and not scaling.min_replicas <= self.replicas <= scaling.max_replicas
        ):
            raise ValueError(
                "replicas: replicas must lie within autoscaling.minReplicas..maxReplicas (or be 0 to scale to zero)"
            )
        return self


class Condition(_Model):
    """A status condition following the Kubernetes API conventions."""

    type: str = Field(
        description="Ready, Progressing, Degraded, Stalled, Reconciling or BenchmarkPassed.", max_length=316
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="Machine-readable CamelCase reason.", max_length=1024)
    message: str = Field(default="", description="Human-readable detail.", max_length=32768)
    last_transition_time: str = Field(
        description="When the status last changed.", json_schema_extra={"format": "date-time"}
    )
    observed_generation: int | None = Field(default=None, description="Generation the condition was computed for.")


class BenchmarkStatus(_Model):
    """One benchmark run."""

    run_id: str = Field(description="The spec.benchmark.runId this run belongs to.")
    scenario: str | None = Field(default=None, description="What was loaded: page, health or predict.")
    phase: Literal["Pending", "Running", "Succeeded", "Failed"] = Field(description="Where the run is.")
    reason: str | None = Field(default=None, description="Why it failed, CamelCase.")
    message: str | None = Field(default=None, description="Summary or error.")
    job_name: str | None = Field(default=None, description="The Job that runs it.")
    started_at: str | None = Field(default=None, description="When the Job was created.")
    completed_at: str | None = Field(default=None, description="When the run ended.")
    rps: float | None = Field(default=None, description="Requests per second.")
    mean_ms: float | None = Field(default=None, description="Mean latency (ms).")
    p50_ms: float | None = Field(default=None, description="Median latency (ms).")
    p90_ms: float | None = Field(default=None, description="90th percentile latency (ms).")
    p99_ms: float | None = Field(default=None, description="99th percentile latency (ms).")
    max_ms: float | None = Field(default=None, description="Slowest request (ms).")
    complete_requests: int | None = Field(default=None, description="Requests completed.")
    failed_requests: int | None = Field(default=None, description="Requests that failed.")
    non2xx_responses: int | None = Field(
        default=None, alias="non2xxResponses", description="Responses with a status outside 2xx."
    )
    passed: bool | None = Field(default=None, description="Whether the targets were met.")


# Strict and closed like the spec (_Model): the operator writes its status through this model (status.typed_status),
# so a misspelt key fails in the operator's tests instead of being pruned by the API server.
class ModelVisualizerStatus(_Model):
    """Observed state, derived from the children's real status."""

    observed_generation: int | None = Field(default=None, description="Generation last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Progressing, Degraded, Stalled, Reconciling, BenchmarkPassed.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    replicas: int | None = Field(default=None, description="Pods of the current Deployment.")
    ready_replicas: int | None = Field(default=None, description="Pods ready to serve.")
    updated_replicas: int | None = Field(default=None, description="Pods running the latest template.")
    selector: str | None = Field(default=None, description="Label selector of the pods (for kubectl scale / HPA).")
    models: str | None = Field(default=None, description="Model names, comma-separated (for kubectl get).")
    url: str | None = Field(default=None, description="Where to open the visualizer (in-cluster, or external).")
    internal_url: str | None = Field(default=None, description="In-cluster URL of the Service.")
    external_url: str | None = Field(default=None, description="External URL once a load balancer has an address.")
    ingress_url: str | None = Field(default=None, description="URL of the Ingress once its controller has an address.")
    benchmark: BenchmarkStatus | None = Field(default=None, description="The latest benchmark run.")
    benchmark_history: list[BenchmarkStatus] = Field(
        default_factory=list, description="Earlier runs, newest first (at most 10).", max_length=10
    )


def spec_from(body: dict[str, Any]) -> ModelVisualizerSpec:
    """Parse an object's spec (as the API server stored it, defaults applied)."""
    return ModelVisualizerSpec.model_validate(body.get("spec") or {})
