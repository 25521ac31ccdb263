"""The ``modelviz`` command: one entry point for the operator, the local cluster, the app and the benchmark runner."""
