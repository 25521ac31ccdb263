"""The operator's RBAC, proven: derived from the code both ways, then exercised by an operator holding nothing else.

Static: every Kubernetes call in operator/modelviz_operator (through ``kube``, or the ``api`` the reconcile and
benchmark logic are given, whose methods are kube's), every kopf watch and kopf's own needs
give a set of (apiGroup, resource, verb); the ClusterRole of deploy/base must grant exactly that set (nothing missing,
nothing unused, no wildcards), the Role of deploy/overlays/namespaced the same minus kopf's CRD scanning, with nothing
cluster-scoped at all.

Live: the rendered ServiceAccount and ClusterRole (or Role) are applied, a token is requested for the ServiceAccount,
and a second operator process runs with only that token. It reconciles a ModelVisualizer through every path that
calls the API (children created, optional children deleted, status, Events, two benchmark Jobs, one pruned, a
missing claim looked up) while its log must stay free of permission errors. Its field manager is its own, so the
children's managedFields show it did the writes, and that no other operator did.

These tests are moved to the front of the session (tests/deploy/conftest.py): the session-wide operator watches
every namespace and must not be running yet.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from modelviz_cluster.cluster import free_port
from modelviz_operator import kube
from modelviz_operator.api import GROUP, PLURAL
from modelviz_operator.builders import CHILD_KINDS
from modelviz_operator.handlers import CHILD_RESOURCES
from tests.bench.servers import serve
from tests.deploy.dockerfiles import final
from tests.deploy.rbac_helpers import SA, operator_env
from tests.deploy_helpers import BASE, NAMESPACED, Render, find, service_account_kubeconfig
from tests.kube_helpers import REPO, Kubectl, condition, map_service, visualizer, wait_for
from tests.operator_helpers import OperatorProcess, start_operator, stop_operator
from tests.sandbox import Sandbox, dockerfile_env, require_sandbox, venv_path

pytestmark = pytest.mark.cluster

PACKAGE = REPO / "operator" / "modelviz_operator"
SYSTEM = "modelviz-system"
Need = tuple[str, str, str]  # (apiGroup, resource, verb)

# --- what the code needs ----------------------------------------------------------------------------------------

# kube.py functions called with (apiVersion, kind, ...) -> the verbs they use on that resource.
KUBE_BY_KIND = {
    "get": ("get",),  # DynamicClient .get(name=...)
    "list_objects": ("list",),  # DynamicClient .get(label_selector=...)
    # Server-side apply is a PATCH; when the object does not exist yet the API server also authorizes create.
    "apply": ("patch", "create"),
    "delete_owned": ("get", "delete"),  # reads the ownerReferences first
}
# kube.py functions bound to one resource -> (the client method they call, what that needs).
KUBE_FIXED: dict[str, tuple[str, Need]] = {
    "get_visualizer": ("get_namespaced_custom_object", (GROUP, PLURAL, "get")),
    "patch_status": ("patch_namespaced_custom_object_status", (GROUP, f"{PLURAL}/status", "patch")),
    "pvc_exists": ("read_namespaced_persistent_volume_claim", ("", "persistentvolumeclaims", "get")),
}
# served() reads API discovery, which every authenticated user may (system:discovery): no rule needed.
KUBE_NO_API = {"configure", "ApiException", "served", "Client"}
OPTIONAL_CHILDREN = CHILD_KINDS[3:]  # HorizontalPodAutoscaler, PodDisruptionBudget, Ingress
# Calls whose (apiVersion, kind) is not written at the call site: (module, enclosing function, kube function) -> kinds.
DYNAMIC_CALLS: dict[tuple[str, str, str], tuple[tuple[str, str], ...]] = {
    ("reconcile", "_apply_child", "get"): CHILD_KINDS,  # before apply (watch cache), created or updated
    ("reconcile", "_apply_child", "apply"): CHILD_KINDS,
    ("reconcile", "_get_quietly", "get"): CHILD_KINDS,  # a refused child: what is still there
    ("reconcile", "_reconcile_once", "delete_owned"): OPTIONAL_CHILDREN,  # children.absent
    ("benchmark", "benchmark_status", "apply"): (("batch/v1", "Job"),),  # build_benchmark_job
    ("evaluation", "evaluation_status", "apply"): (("batch/v1", "Job"),),  # build_evaluation_job
}
# kopf itself, beyond the handlers' watches: CRD observation, unless its scanning is off (the namespaced overlay).
KOPF_CLUSTER_SCOPED: dict[Need, str] = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"): "kopf: notices CRD changes at runtime",
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"): "kopf: notices CRD changes at runtime",
}
SCANNED = (
    "reconcile.py",
    "benchmark.py",
    "evaluation.py",
    "_jobs.py",
    "gates.py",
    "handlers.py",
    "status.py",
    "metrics.py",
    "__main__.py",
)


def group_resource(api_version: str, kind: str) -> tuple[str, str]:
    group = api_version.rpartition("/")[0]
    # Every kind the operator touches has the regular plural (ConfigMap -> configmaps, Ingress -> ingresses).
    assert not kind.endswith("y"), f"irregular plural for {kind}: extend group_resource"
    return group, f"{kind.lower()}es" if kind.endswith("s") else f"{kind.lower()}s"


API_NAMES = ("kube", "api")  # the module, and the KubeApi (ports.py) reconcile and benchmark_status are given


class _Calls(ast.NodeVisitor):
    """Every use of ``kube.<name>`` (or ``api.<name>``) in a module, with its enclosing function and (for calls) its
    arguments."""

    def __init__(self) -> None:
        self.function = "<module>"
        self.uses: list[tuple[str, str, ast.Call | None]] = []
        self._called: set[int] = set()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in API_NAMES:
            self.uses.append((self.function, func.attr, node))
            self._called.add(id(func))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in API_NAMES and id(node) not in self._called:
            self.uses.append((self.function, node.attr, None))  # passed on, e.g. find_problems(..., kube.pvc_exists)
        self.generic_visit(node)


def _literal_kind(call: ast.Call) -> tuple[str, str] | None:
    args = call.args[:2]
    if len(args) == 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
        return args[0].value, args[1].value  # type: ignore[attr-defined]
    return None


def needs_of_code() -> dict[Need, list[str]]:
    """(apiGroup, resource, verb) -> where in the code it is needed."""
    needs: dict[Need, list[str]] = defaultdict(list)

    # kube.py: every public function is known here, and the fixed ones really call what the table says.
    kube_tree = ast.parse((PACKAGE / "kube.py").read_text())
    bodies = {n.name: ast.unparse(n) for n in kube_tree.body if isinstance(n, ast.FunctionDef)}
    unknown = set(kube.__all__) - set(KUBE_BY_KIND) - set(KUBE_FIXED) - KUBE_NO_API
    assert not unknown, f"kube.py gained {unknown}: add what it needs to this test (and to the RBAC)"
    for name, (method, _) in KUBE_FIXED.items():
        assert f".{method}(" in bodies[name], f"kube.{name} no longer calls {method}"

    for filename in SCANNED:
        module = filename.removesuffix(".py")
        visitor = _Calls()
        visitor.visit(ast.parse((PACKAGE / filename).read_text()))
        for function, name, call in visitor.uses:
            where = f"{module}.{function}: kube.{name}"
            if name in KUBE_NO_API:
                continue
            if name in KUBE_FIXED:
                need = KUBE_FIXED[name][1]
                needs[need].append(where)
                continue
            assert name in KUBE_BY_KIND and call is not None, f"{where}: not understood by this test"
            literal = _literal_kind(call)
            kinds = (literal,) if literal else DYNAMIC_CALLS.get((module, function, name))
            assert kinds, f"{where}: (apiVersion, kind) not literal; add it to DYNAMIC_CALLS"
            for api_version, kind in kinds:
                group, resource = group_resource(api_version, kind)
                for verb in KUBE_BY_KIND[name]:
                    needs[(group, resource, verb)].append(f"{where}({kind})")

    # handlers.py: kopf watches (list, watch), kopf's state annotations (patch), kopf.event (create Events).
    source = (PACKAGE / "handlers.py").read_text()
    tree = ast.parse(source)
    assert "in CHILD_RESOURCES:" in source  # the watches and indexes are registered per entry of that table
    for group, _version, plural, _kind in CHILD_RESOURCES:
        for verb in ("list", "watch"):
            needs[(group, plural, verb)].append(f"handlers: kopf.on.event watch (and index) of {plural}")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for deco in node.decorator_list:
                text = ast.unparse(deco)
                if text.startswith(("kopf.on.", "kopf.timer(")) and "GROUP, VERSION, PLURAL" in text:
                    for verb in ("list", "watch", "patch"):
                        needs[(GROUP, PLURAL, verb)].append(f"handlers.{node.name}: {text.split('(')[0]}")
    assert "kopf.event(" in source
    needs[("", "events", "create")].append("handlers._emit: kopf.event")
    return dict(needs)


def granted(rules: list[dict[str, Any]]) -> set[Need]:
    out: set[Need] = set()
    for rule in rules:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule.get(key, []), f"wildcard in {key}: {rule}"
        assert not rule.get("nonResourceURLs"), f"non-resource URLs need no rule (discovery is public): {rule}"
        assert not rule.get("resourceNames"), rule
        out |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    return out


def compare(grant: set[Need], need: dict[Need, list[str]]) -> None:
    missing = {n: need[n] for n in need if n not in grant}
    unused = sorted(grant - set(need))
    assert not missing, f"the code needs what the role does not grant: {json.dumps(missing, indent=1, default=str)}"
    assert not unused, f"the role grants what no code uses: {unused}"


def test_code_needs_are_found() -> None:
    """Guards the derivation itself: a few needs that must be found (else the comparisons prove nothing)."""
    needs = needs_of_code()
    for expected in (
        ("", "configmaps", "patch"),
        ("apps", "deployments", "get"),
        ("batch", "jobs", "delete"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "persistentvolumeclaims", "get"),
        (GROUP, f"{PLURAL}/status", "patch"),
        ("policy", "poddisruptionbudgets", "delete"),
        ("autoscaling", "horizontalpodautoscalers", "watch"),
        ("networking.k8s.io", "ingresses", "delete"),
        ("networking.k8s.io", "ingresses", "watch"),
    ):
        assert expected in needs, expected


def test_cluster_role_grants_exactly_what_the_code_uses(render: Render) -> None:
    role = find(render(BASE), "ClusterRole", SA)
    compare(granted(role["rules"]), {**needs_of_code(), **{k: [v] for k, v in KOPF_CLUSTER_SCOPED.items()}})


def test_namespaced_role_grants_exactly_what_the_code_uses(render: Render) -> None:
    docs = render(NAMESPACED)
    compare(granted(find(docs, "Role", SA)["rules"]), needs_of_code())
    # Nothing cluster-wide: kopf's scanning of Namespaces and CRDs is off there (the live test below proves it).
    assert [d["kind"] for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")] == []
    assert operator_env(docs, SYSTEM)["MODELVIZ_CLUSTER_SCANNING"] == "false"


# --- an operator with nothing but these permissions --------------------------------------------------------------


# Lines an operator writes when its permissions fall short (kopf warnings, client exceptions, failed handlers).
# Status codes only next to a word that makes them one: a bare 401/403 also matches log timestamps ("11:03:26,401").
DENIED = re.compile(
    r"forbidden|Not enough permissions|Failed to post an event|Unauthorized"
    r"|\b(?:code|status|HTTP)\W{0,4}40[13]\b|\(40[13]\)",
    re.I,
)


def test_denied_pattern_matches_refusals_not_timestamps() -> None:
    refusals = [
        "APIForbiddenError: ('deployments.apps is forbidden: User cannot patch', {'code': 403})",
        "kubernetes.client.exceptions.ApiException: (401) Reason: Unauthorized",
        "HTTP 403 from the API server",
        "Not enough permissions to watch for resources",
    ]
    harmless = [
        "[2026-11-25 11:03:26,401] kopf._core.engines.a [INFO    ] Initial authentication has been initiated.",
        "[2026-11-25 11:03:26,403] kopf.objects [INFO    ] Handler 'reconcile' succeeded.",
        "Requests per second: 1401.71, p99 403 ms",
    ]
    assert [line for line in refusals if not DENIED.search(line)] == []
    assert [line for line in harmless if DENIED.search(line)] == []


@pytest.fixture
def rbac_operator(
    request: pytest.FixtureRequest,
    cluster: Any,
    crd: str,
    kubectl: Kubectl,
    render: Render,
    namespace: str,
    tmp_path: Path,
) -> Iterator[tuple[OperatorProcess, str, str]]:
    variant: str = request.param
    manager = f"modelviz-rbac-{variant}-{uuid.uuid4().hex[:6]}"
    if variant == "base":
        docs = render(BASE)
        wanted = [
            find(docs, "Namespace"),
            find(docs, "ServiceAccount", SA),
            find(docs, "ClusterRole", SA),
            find(docs, "ClusterRoleBinding", SA),
        ]
        sa_namespace, watch = SYSTEM, ""  # the base watches every namespace
    else:
        docs = render(NAMESPACED, namespace)
        wanted = [d for d in docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
        sa_namespace, watch = namespace, namespace
    kubectl("apply", "--server-side", "-f", "-", input_text=yaml.safe_dump_all(wanted))
    if variant == "namespaced-pod":
        running = start_operator_in_pod(cluster, kubectl, docs, namespace, manager, tmp_path)
        try:
            yield running, manager, variant
        finally:
            stop_operator(running)
        return
    config = service_account_kubeconfig(kubectl, sa_namespace, SA, tmp_path / "sa.kubeconfig")
    # The manifest's own settings (MODELVIZ_CLUSTER_SCANNING in the overlay), then what a pod would get otherwise.
    env = {
        **operator_env(docs, sa_namespace),
        "KUBECONFIG": str(config),
        "MODELVIZ_NAMESPACES": watch,
        "MODELVIZ_FIELD_MANAGER": manager,
    }
    running = start_operator(cluster, tmp_path / "operator.log", env)
    try:
        yield running, manager, variant
    finally:
        stop_operator(running)
        for doc in wanted:
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], "--ignore-not-found", check=False)


def start_operator_in_pod(
    cluster: Any, kubectl: Kubectl, docs: list[dict[str, Any]], namespace: str, manager: str, tmp_path: Path
) -> OperatorProcess:
    """The rendered Deployment's operator container as its pod would run it (tests/sandbox.py): read-only root, /tmp
    its only writable path, its uid and no capabilities, the image's ENTRYPOINT and ENV, and in-cluster credentials: a
    ServiceAccount token, CA and namespace at the path a kubelet mounts them, KUBERNETES_SERVICE_HOST/PORT set."""
    require_sandbox()
    pod = find(docs, "Deployment", SA)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"]
    security = {**pod["securityContext"], **container["securityContext"]}
    uid, gid = security["runAsUser"], security.get("fsGroup", security["runAsGroup"])
    account = tmp_path / "serviceaccount"
    account.mkdir()
    kubeconfig = yaml.safe_load(Path(kubectl.kubeconfig).read_text())["clusters"][0]["cluster"]
    shutil.copy(kubeconfig["certificate-authority"], account / "ca.crt")
    token = kubectl("create", "token", SA, "-n", namespace, "--duration=1h").stdout.strip()
    (account / "token").write_text(token)
    (account / "namespace").write_text(namespace)
    for path in (account, *account.iterdir()):
        os.chown(path, 0, gid)
        path.chmod(0o750 if path.is_dir() else 0o640)
    volumes = {"tmp": tmp_path / "tmp"}
    volumes["tmp"].mkdir()
    os.chown(volumes["tmp"], uid, gid)
    (tmp_path / "rootfs").mkdir()
    sandbox = Sandbox(tmp_path / "rootfs", security)
    sandbox.volumes(container["volumeMounts"], volumes)
    sandbox.mount(account, "/var/run/secrets/kubernetes.io/serviceaccount")
    host, _, port = urlsplit(kubeconfig["server"]).netloc.partition(":")
    metrics, health = free_port(), free_port()
    env = {
        **dockerfile_env(REPO / "Dockerfile.operator"),
        **operator_env(docs, namespace),
        "PATH": venv_path(),
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "MODELVIZ_FIELD_MANAGER": manager,
        "MODELVIZ_METRICS_ADDRESS": "127.0.0.1",
        "MODELVIZ_METRICS_PORT": str(metrics),
        "MODELVIZ_RESYNC_SECONDS": "20",
    }
    (entrypoint,) = final(REPO / "Dockerfile.operator").all("ENTRYPOINT")
    args = [re.sub(r"^--liveness=.*", f"--liveness=http://127.0.0.1:{health}/healthz", a) for a in container["args"]]
    log = tmp_path / "operator.log"
    proc = sandbox.popen(sandbox.script([*json.loads(entrypoint.args), *args], env), log)
    return OperatorProcess(proc, log, metrics)


def managers(kubectl: Kubectl, kind: str, name: str, namespace: str) -> set[str]:
    """Field managers of an object (kubectl hides managedFields unless asked)."""
    obj = kubectl.json("get", kind, name, "-n", namespace, "--show-managed-fields")
    return {entry.get("manager", "") for entry in obj["metadata"].get("managedFields") or []}


@pytest.mark.parametrize("rbac_operator", ["base", "namespaced", "namespaced-pod"], indirect=True)
def test_operator_with_only_the_manifests_rbac_does_everything(
    cluster: Any, kubectl: Kubectl, namespace: str, rbac_operator: tuple[OperatorProcess, str, str]
) -> None:
    operator, manager, _variant = rbac_operator

    def explain() -> str:
        dump = kubectl("get", "mviz,deploy,svc,cm,hpa,pdb,jobs,pods", "-n", namespace, "-o", "wide", check=False)
        status = kubectl("get", "mviz", "-n", namespace, "-o", "yaml", check=False).stdout
        return f"{dump.stdout}{dump.stderr}\n{status[-4000:]}\n--- operator ---\n{operator.logs(120)}"

    def denied() -> list[str]:
        return [line for line in operator.log.read_text(errors="replace").splitlines() if DENIED.search(line)]

    def benchmark_done(run_id: str) -> dict[str, Any] | None:
        if denied():  # fail at once, not at the timeout (pytest.fail is not retried by wait_for)
            pytest.fail("permission denied:\n" + "\n".join(denied()[:10]))
        obj = kubectl.get("mviz", "rbac", namespace)
        bench = ((obj or {}).get("status") or {}).get("benchmark") or {}
        return obj if bench.get("runId") == run_id and bench.get("phase") in ("Succeeded", "Failed") else None

    def jobs() -> list[dict[str, Any]]:
        return list(kubectl.json("get", "jobs", "-n", namespace)["items"])

    with serve("ok") as url:
        map_service(cluster, "rbac", namespace, url.split("//", 1)[1].rstrip("/"))
        bench = {"requests": 20, "concurrency": 2, "keepJobs": 1, "targets": {"minRps": 0.001}}
        # Two replicas with autoscaling and an Ingress: ConfigMap, Deployment, Service, HPA, PDB and Ingress, then a
        # benchmark.
        scaled = visualizer(
            "rbac",
            replicas=2,
            autoscaling={"minReplicas": 2, "maxReplicas": 3},
            ingress={"host": "rbac.example.com"},
            benchmark={**bench, "runId": "r1"},
        )
        kubectl.apply(scaled, namespace)
        # A claim that does not exist: looked up, reported as a problem.
        kubectl.apply(visualizer("claims", dataset={"path": "images", "claimName": "missing"}), namespace)
        first = wait_for(lambda: benchmark_done("r1"), timeout=90, what="benchmark r1", explain=explain)
        assert first["status"]["benchmark"]["phase"] == "Succeeded", first["status"]["benchmark"]
        for kind in ("hpa", "pdb", "ingress"):
            found = managers(kubectl, kind, "rbac", namespace)
            assert manager in found and "modelviz-operator" not in found, f"{kind}: {found}"

        # One replica, no autoscaling, no Ingress: HPA, PDB and Ingress are deleted; a second run, and the first Job
        # is pruned.
        kubectl.apply(visualizer("rbac", replicas=1, benchmark={**bench, "runId": "r2"}), namespace)
        second = wait_for(lambda: benchmark_done("r2"), timeout=90, what="benchmark r2", explain=explain)
    assert second["status"]["benchmark"]["phase"] == "Succeeded", second["status"]["benchmark"]
    assert [h["runId"] for h in second["status"]["benchmarkHistory"]] == ["r2", "r1"]
    assert condition(second, "BenchmarkPassed")["status"] == "True"
    wait_for(lambda: len(jobs()) == 1, timeout=30, what="the r1 Job to be pruned", explain=explain)
    for kind in ("hpa", "pdb", "ingress"):

        def deleted(k: str = kind) -> bool:
            return kubectl.get(k, "rbac", namespace) is None

        wait_for(deleted, timeout=30, what=f"{kind} deleted")

    claims = wait_for(
        lambda: (c := condition(kubectl.get("mviz", "claims", namespace), "Degraded")) and c["status"] == "True" and c,
        timeout=30,
        what="claims Degraded",
        explain=explain,
    )
    assert claims["reason"] == "MissingVolumeClaim", claims

    # The writes are this operator's, and no other operator's.
    (job,) = jobs()
    for kind, name in (("cm", "rbac-config"), ("deploy", "rbac"), ("svc", "rbac"), ("job", job["metadata"]["name"])):
        found = managers(kubectl, kind, name, namespace)
        assert manager in found, f"{kind} {name}: {found}"
        assert "modelviz-operator" not in found, f"another operator wrote {kind} {name}: {found}"
    events = kubectl.json("get", "events", "-n", namespace)["items"]
    reasons = {e["reason"] for e in events if e["involvedObject"].get("name") == "rbac"}
    assert {"Created", "Deleted", "BenchmarkStarted", "BenchmarkSucceeded"} <= reasons, reasons

    assert not denied(), "\n".join(denied()[:20])
    log = operator.log.read_text(errors="replace").splitlines()
    failures = [line for line in log if "failed with an exception" in line or "Traceback" in line]
    assert not failures, "\n".join(failures[:20])


def test_without_scanning_the_operator_waits_for_its_crd_to_be_served(cluster: Any, kubectl: Kubectl) -> None:
    """What the namespaced overlay relies on: discovery, read with no rights, tells when a new CRD is served."""
    import kopf

    from modelviz_operator.handlers import wait_until_served

    kube.configure(str(cluster.kubeconfig))  # what the operator passes from Config.kubeconfig
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    assert not kube.served(group, "v1", "widgets")
    with pytest.raises(kopf.PermanentError, match=rf"widgets\.{group}/v1 is not served after 1s"):
        wait_until_served(group, "v1", "widgets", timeout=1, interval=0.2)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    kubectl("apply", "--server-side", "-f", "-", input_text=json.dumps(crd))
    try:
        wait_until_served(group, "v1", "widgets", timeout=30, interval=0.2)
        assert kube.served(GROUP, "v1alpha1", PLURAL)
    finally:
        kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)
