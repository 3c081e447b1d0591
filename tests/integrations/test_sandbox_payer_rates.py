"""The sandbox payer denies about as often as real dental payers do (5-10 %)."""

from __future__ import annotations

from integrations.sandbox_payer.payer import claim_outcome


def test_the_sandbox_payers_denial_rate_is_a_real_groups():
    outcomes = [claim_outcome(f"CLM{n:06d}") for n in range(5000)]

    denied = outcomes.count("denied") / len(outcomes)
    partial = outcomes.count("partial") / len(outcomes)

    assert 0.04 <= denied <= 0.08
    assert partial <= 0.1
    assert outcomes.count("paid") / len(outcomes) >= 0.8
