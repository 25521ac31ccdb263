"""Generate the CustomResourceDefinition from :mod:`modelviz_operator.api` (``modelviz crd [--check]``).

Pydantic's JSON Schema is turned into a structural OpenAPI v3 schema: ``$ref`` inlined, ``Optional`` unwrapped,
``int | str`` mapped to ``x-kubernetes-int-or-string``, titles dropped, Kubernetes extensions kept.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

import yaml

from .api import (
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAME,
    SINGULAR,
    VERSION,
    ModelVisualizerSpec,
    ModelVisualizerStatus,
)

__all__ = ["CHART_CRD_PATH", "CRD_PATH", "build_crd", "main", "render_crd"]

_ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = _ROOT / "crds" / f"{PLURAL}.{GROUP}.yaml"
# The Helm chart's copy (a chart cannot read files outside itself, and helm warns about symbolic links).
CHART_CRD_PATH = _ROOT / "deploy" / "helm" / "modelviz" / "files" / f"{PLURAL}.{GROUP}.yaml"

_KEEP = {
    "type",
    "description",
    "default",
    "enum",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
}


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(variants) == 1:
            return _structural({**variants[0], **rest}, defs)
        if sorted(v.get("type", "") for v in variants) == ["integer", "string"]:
            either = {k: v for k, v in rest.items() if k in _KEEP and k != "default"}
            for variant in variants:  # a length bound on the string form applies to the string only
                either.update({k: v for k, v in variant.items() if k in ("maxLength", "pattern")})
            either["x-kubernetes-int-or-string"] = True
            return either
        raise ValueError(f"cannot express anyOf {variants} structurally")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # JSON Schema 2020-12 (pydantic) gives the bound itself; OpenAPI v3.0 (the CRD) a flag on the bound.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key in _KEEP or key.startswith("x-kubernetes-"):
            out[key] = value
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out["properties"] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = _structural(value, defs)
        elif key == "additionalProperties" and isinstance(value, dict):
            out["additionalProperties"] = _structural(value, defs)
    if "properties" in node and "type" not in out:
        out["type"] = "object"
    if out.get("default") is None:
        out.pop("default", None)
    if "description" in out:
        out["description"] = " ".join(str(out["description"]).split())
    return out


def _schema(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation", ref_template="#/$defs/{model}")
    return _structural(raw, raw.get("$defs", {}))


def build_crd() -> dict[str, Any]:
    spec_schema = _schema(ModelVisualizerSpec)
    status_schema = _schema(ModelVisualizerStatus)
    schema = {
        "type": "object",
        "description": "ModelVisualizer runs an image-classification performance visualizer and benchmarks it.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "Versioned schema of this object."},
            "kind": {"type": "string", "description": "REST resource this object represents."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    columns = [
        ("Models", "string", ".status.models", "Models compared", 0),
        ("Replicas", "integer", ".spec.replicas", "Desired visualizer pods", 0),
        ("Ready", "integer", ".status.readyReplicas", "Pods ready to serve", 0),
        ("Status", "string", '.status.conditions[?(@.type=="Ready")].reason', "Why it is (not) ready", 0),
        ("URL", "string", ".status.url", "Where to open the visualizer", 0),
        ("Scenario", "string", ".status.benchmark.scenario", "What the latest benchmark loaded", 0),
        ("RPS", "number", ".status.benchmark.rps", "Requests/s of the latest benchmark", 0),
        ("P99", "number", ".status.benchmark.p99Ms", "p99 latency (ms) of the latest benchmark", 0),
        ("Top1", "number", ".status.evaluation.bestTop1", "Best top-1 accuracy of any model on the dataset", 0),
        ("Bench", "string", ".status.benchmark.phase", "Phase of the latest benchmark", 1),
        ("Run", "string", ".status.benchmark.runId", "runId of the latest benchmark", 1),
        ("Best", "string", ".status.evaluation.bestModel", "The model with the best top-1 accuracy", 1),
        ("Quality", "string", '.status.conditions[?(@.type=="QualityPassed")].reason', "Quality targets met?", 1),
        ("Age", "date", ".metadata.creationTimestamp", "", 0),
    ]
    printer_columns = []
    for name, kind, path, description, priority in columns:
        column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
        if description:
            column["description"] = description
        if priority:
            column["priority"] = priority
        printer_columns.append(column)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "modelviz", "app.kubernetes.io/part-of": "modelviz"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": [SHORT_NAME],
                "categories": ["all", "modelviz"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": printer_columns,
                }
            ],
        },
    }


def render_crd() -> str:
    header = "# Generated by `modelviz crd` from operator/modelviz_operator/api.py: do not edit by hand.\n"
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelviz crd", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed CRD is stale")
    parser.add_argument("--output", type=Path, help=f"one file to write (default: {CRD_PATH} and the chart's copy)")
    args = parser.parse_args(argv)
    text = render_crd()
    outputs = [args.output] if args.output else [CRD_PATH, CHART_CRD_PATH]
    if args.check:
        stale = 0
        for output in outputs:
            current = output.read_text() if output.exists() else ""
            if current != text:
                diff = difflib.unified_diff(
                    current.splitlines(), text.splitlines(), str(output), "generated", lineterm=""
                )
                print("\n".join(list(diff)[:80]), file=sys.stderr)
                print(f"{output} is stale: run `modelviz crd`", file=sys.stderr)
                stale += 1
        return 1 if stale else 0
    for output in outputs:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
