"""Deterministic synthetic demo network. Every name, number and id here is made up."""
