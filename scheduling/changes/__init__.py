"""Schedule changes that reach booked patients: provider time off, location closures and
template edits entered by ops (``apply``), the booked visits each one hits kept as a
rebooking worklist with the rules engine's alternatives (``suggest``), and the worklist's
actions: rebook, cancel, tell the patient (``rebook``).
"""
