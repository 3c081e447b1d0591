"""Patient engagement in the domain: reminders, replies by text, waitlist offers.

Pure rules (``texts``, ``quiet``) and services (``reminders``, ``replies``, ``offers``)
that write ``PatientMessage`` rows and announce them; integrations sends them.
"""
