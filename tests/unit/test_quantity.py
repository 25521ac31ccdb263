"""Quantities as resource.ParseQuantity reads them (the cluster's property test compares with the API server)."""

from __future__ import annotations

import pytest

from modelviz_operator.quantity import is_nonnegative_quantity, is_quantity


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "1",
        "500m",
        "1.5",
        "1Gi",
        "64Mi",
        "2k",
        "1e3",
        "1E-3",
        "1e+3",
        ".5",
        "1.",
        "-",
        "+",
        ".",
        "Gi",
        "Ti",
        "1Ei",
        "0.1n",
        "007",
        5,
    ],
)
def test_quantities(text: str | int) -> None:
    assert is_quantity(text)


@pytest.mark.parametrize(
    "text", ["", "lots", "1GB", "64ki", "1 Gi", "1.5.0", "1e", "1e+", "1i", "1m3", "\u0661", "Ei", "Pi", ".Ei"]
)
def test_not_quantities(text: str) -> None:
    assert not is_quantity(text)


def test_sign() -> None:
    assert is_nonnegative_quantity("-0") and is_nonnegative_quantity("-") and is_nonnegative_quantity(0)
    assert not is_nonnegative_quantity("-1m") and not is_nonnegative_quantity(-2)
