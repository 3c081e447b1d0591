"""Scheduling rules: pure functions over frozen facts, one family per module, one registry.

``registry.RULES`` lists them; ``loading`` builds the facts from the database;
``RuleSetting`` rows (admin) switch rules on and off and set weights and parameters.
"""
