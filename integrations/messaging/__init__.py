"""Patient messaging channels: SMS through Twilio's REST API (or the sandbox gateway
that speaks it), email through SMTP with an iCalendar invitation, and the signed webhook
that brings replies and delivery receipts back. One transport base
(``integrations.transports.Transport``); the relay sends through them with retries and
records each transmission in the ledger."""
