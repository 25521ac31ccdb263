"""modelviz."""
