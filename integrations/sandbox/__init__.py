"""A sandbox location PMS/EHR: a simulated external system behind the real connector
interface, for the demo and for testing a new practice's connector before go-live."""
