"""modelviz operator: reconciles ModelVisualizer resources into a Streamlit visualizer and its benchmark Jobs.

Importing this package (or any module in it) registers no kopf handler and reads no environment: the entry point
(``python -m modelviz_operator``, :mod:`modelviz_operator.__main__`) reads a :class:`~modelviz_operator.config.Config`
once and calls :func:`modelviz_operator.handlers.register`. Without the ``operator`` extra (kopf, kubernetes)
installed, the pure parts (api, builders, status) still import.
"""
