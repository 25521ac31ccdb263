"""The Argo CD health check (deploy/argocd/health.lua) run the way Argo CD runs it.

Argo CD evaluates custom health checks in gopher-lua, a Lua 5.1, with only the base, package and table libraries
open (unless useOpenLibs is set, which we do not ask for). Here lupa's Lua 5.1 runs the script with only the base
and table functions as globals and the string methods unhooked, so it fails on the library calls gopher-lua would
fail on. The cases are in Argo CD's own format: deploy/argocd/health_test.yaml naming objects in testdata/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.argocd_health import ARGOCD, SCRIPT, lua51, run_health

CONFIGMAP = ARGOCD / "argocd-cm.yaml"
APPLICATION = ARGOCD / "application.yaml"
CASES_FILE = ARGOCD / "health_test.yaml"
HEALTH_KEY = "resource.customizations.health.modelviz.io_ModelVisualizer"
# health.HealthStatusCode values Argo CD accepts from a script; anything else is an error there.
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = yaml.safe_load(CASES_FILE.read_text())["tests"]
    return cases


CASES = load_cases()


@pytest.mark.parametrize("libraries", ["closed", "open"])
@pytest.mark.parametrize("case", CASES, ids=[Path(case["inputPath"]).stem for case in CASES])
def test_health_case(case: dict[str, Any], libraries: str) -> None:
    obj = yaml.safe_load((ARGOCD / case["inputPath"]).read_text())
    assert obj["apiVersion"] == "modelviz.io/v1alpha1" and obj["kind"] == "ModelVisualizer"
    expected = case["healthStatus"]
    assert expected["status"] in ARGO_STATUSES
    got = run_health(obj, open_libs=libraries == "open")
    assert got == {"status": expected["status"], "message": expected["message"]}


def test_every_testdata_file_has_a_case() -> None:
    used = {(ARGOCD / case["inputPath"]).resolve() for case in CASES}
    present = {path.resolve() for path in (ARGOCD / "testdata").glob("*.yaml")}
    assert present - used == set(), "testdata without a case in health_test.yaml"
    assert used - present == set(), "cases whose inputPath does not exist"


def test_cases_cover_every_status_the_script_returns() -> None:
    seen = {case["healthStatus"]["status"] for case in CASES}
    assert {"Healthy", "Progressing", "Degraded", "Suspended"} <= seen


def test_sandbox_lacks_the_libraries_gopher_lua_does_not_open() -> None:
    # Guards the harness itself: if these ran, the cases above would not prove the script portable.
    calls = [
        'return ("abc"):find("b")',
        'return string.format("%d", 3)',
        "return math.floor(2.5)",
        "return os.time()",
        "return io.write('x')",
    ]
    for call in calls:
        with pytest.raises(lua51.LuaError):
            run_health({"metadata": {"generation": 1}}, script=call)


def test_numbers_print_without_a_fraction() -> None:
    # Generations arrive as floats; Lua 5.1 prints 12.0 as "12", and the script must not rely on anything else.
    obj = {"metadata": {"generation": 12.0}, "status": {"observedGeneration": 11.0}}
    assert run_health(obj)["message"] == "Waiting for the operator to observe generation 12"


def test_script_returns_a_known_status_for_junk() -> None:
    # Wrong types everywhere must still give an answer: a Lua error would show as Unknown with a stack trace.
    junk: list[dict[str, Any]] = [
        {},
        {"metadata": {}, "spec": "x", "status": "y"},
        {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": "Ready"}},
        {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [1, "Ready", []]}},
        {
            "metadata": {"generation": 2},
            "status": {
                "observedGeneration": 2,
                "readyReplicas": "two",
                "url": 5,
                "benchmark": "Running",
                "conditions": [{"type": "Ready", "status": "True", "reason": 7, "message": {}}],
            },
        },
    ]
    for obj in junk:
        assert run_health(obj)["status"] in ARGO_STATUSES
        assert run_health(obj, open_libs=True)["status"] in ARGO_STATUSES


def test_configmap_inlines_the_script_byte_for_byte() -> None:
    configmap = yaml.safe_load(CONFIGMAP.read_text())
    assert configmap["apiVersion"] == "v1" and configmap["kind"] == "ConfigMap"
    assert configmap["metadata"]["name"] == "argocd-cm"
    inlined = configmap["data"][HEALTH_KEY]
    assert inlined == SCRIPT.read_text(), (
        "deploy/argocd/argocd-cm.yaml is out of date: paste health.lua, indented by 4 spaces, under " + HEALTH_KEY
    )
    # Without useOpenLibs Argo CD runs the script as tested here; with it, the sandbox above would prove less.
    assert "resource.customizations.useOpenLibs.modelviz.io_ModelVisualizer" not in configmap["data"]


def test_application_syncs_the_base_with_server_side_apply() -> None:
    app = yaml.safe_load(APPLICATION.read_text())
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    source = app["spec"]["source"]
    assert source["repoURL"] == "https://git.example.com/platform/modelviz.git"
    assert source["path"] == "deploy/base"
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
