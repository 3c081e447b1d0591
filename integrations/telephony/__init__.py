"""Telephony platforms: their call events in (Twilio Voice status callbacks), stored
before acknowledging, mapped to the domain's ``CallEvent`` and applied by scheduling's
hub services; and the sandbox telephony that plays a day of calls."""
