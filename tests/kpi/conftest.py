"""Fixtures for the KPI tests: the hand-made network lives in dataset.py (the browser test
uses it too)."""

from __future__ import annotations

from .dataset import kpi_net

__all__ = ["kpi_net"]
