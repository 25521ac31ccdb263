"""modelviz operator: reconciles ModelVisualizer resources into a Streamlit visualizer and its benchmark Jobs.

``kopf run -m modelviz_operator`` imports this package, so importing it registers the kopf handlers. Without the
``operator`` extra (kopf, kubernetes) installed, the pure parts (api, builders, status) still import.
"""

try:
    from . import handlers as handlers
except ModuleNotFoundError as _missing:  # pragma: no cover - only without the operator extra
    if _missing.name not in ("kopf", "kubernetes", "prometheus_client"):
        raise
