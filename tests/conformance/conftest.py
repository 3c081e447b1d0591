"""The live MLLP listener of the integration tests, for the conformance modules."""

from __future__ import annotations

from tests.integrations.conftest import listener  # noqa: F401  (a pytest fixture)
