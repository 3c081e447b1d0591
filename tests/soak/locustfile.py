"""Simulated call-center agents for ``make soak``: each signs in like a person and works
calls through the console's real endpoints (htmx partials), end to end.

A call: start it with the caller's phone, search by name and birth date, open the
patient, find slots, hold one, book it, wrap up. Locust names each request by console
action, so its statistics are the per-action latencies the soak report quotes. A hold
refused because another agent took the slot a moment earlier (409) is what a real agent
sees under contention: it is counted apart ("hold taken"), not as an error.

Started by tests/soak/soak.py with SOAK_WORLD naming the JSON file of agents (each with
a signed-in session), patients and appointment types it prepared.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re

from locust import HttpUser, between, task

WORLD = json.loads(open(os.environ["SOAK_WORLD"]).read())  # noqa: SIM115
AGENTS = itertools.cycle(WORLD["agents"])
HX = {"HX-Request": "true"}
IN_NETWORK_SLOT = re.compile(
    r'<li class="(?:mine)?">\s*<form[^>]*>.*?name="slot_id" value="(\d+)"', re.S
)


class Agent(HttpUser):
    wait_time = between(1, 3)  # the caller talks between clicks

    def on_start(self) -> None:
        agent = next(AGENTS)
        self.client.cookies.set("sessionid", agent["session"])
        # The console page sets the CSRF cookie the htmx posts send back.
        self.client.get("/console/", name="console page")

    def _post(self, path: str, data: dict, name: str, **kw):  # type: ignore[no-untyped-def]
        headers = {**HX, "X-CSRFToken": self.client.cookies.get("csrftoken", "")}
        return self.client.post(path, data, headers=headers, name=name, **kw)

    @task
    def call(self) -> None:
        patient = random.choice(WORLD["patients"])
        appointment_type = random.choice(WORLD["appointment_types"])
        self._post("/console/call/start/", {"caller_phone": patient["phone"]}, "call start")
        self._post(
            "/console/patients/search/",
            {"query": f"{patient['last_name']} {patient['dob']}"},
            "search",
        )
        self._post(
            "/console/patients/open/",
            {"patient_id": patient["id"], "widen_reason": "soak: caller from another region"},
            "open patient",
        )
        found = self._post("/console/slots/", {"appointment_type": appointment_type}, "find slots")
        offered = IN_NETWORK_SLOT.findall(found.text)[:5]
        booked = False
        if offered:
            with self._post(
                "/console/hold/",
                {"slot_id": random.choice(offered), "appointment_type_id": appointment_type},
                "hold",
                catch_response=True,
            ) as held:
                if held.status_code == 409:
                    held.success()
                    self.environment.events.request.fire(
                        request_type="POST",
                        name="hold taken (409)",
                        response_time=0,
                        response_length=0,
                        exception=None,
                        context={},
                    )
            if held.status_code == 200:
                book = self._post("/console/book/", {"reason": "new_problem"}, "book")
                booked = book.status_code == 200
        self._post(
            "/console/call/wrap-up/",
            {
                "outcome": "booked" if booked else "info_only",
                "reason": "new_problem" if booked else "other",
            },
            "wrap up",
        )
