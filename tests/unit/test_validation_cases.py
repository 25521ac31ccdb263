"""The operator's model rejects every spec of the invalid-spec table, naming the same field as the API server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from modelviz_operator.api import ModelVisualizerSpec
from tests.validation_cases import BASE, INVALID


def test_the_base_is_valid() -> None:
    ModelVisualizerSpec.model_validate(BASE)


def test_the_table_is_large_enough() -> None:
    assert len(INVALID) >= 40
    assert len({case[0] for case in INVALID}) == len(INVALID)


@pytest.mark.parametrize(("spec", "field"), [(c[1], c[2]) for c in INVALID], ids=[c[0] for c in INVALID])
def test_pydantic_rejects_naming_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ModelVisualizerSpec.model_validate(spec)
    # The field the API server names, as pydantic's location plus the rule's own "field: " prefix.
    leaf = field.removeprefix("spec.").split(".")[-1].split("[")[0]
    named = " ".join(
        ".".join(str(p) for p in e["loc"]) + " " + e["msg"] for e in caught.value.errors(include_url=False)
    )
    camel = {"claim_name": "claimName"}
    assert leaf in named or any(k in named and v == leaf for k, v in camel.items()), named
