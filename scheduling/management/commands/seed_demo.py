from __future__ import annotations

import importlib
import random
import time
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from patients.models import Patient
from scheduling.demo import capacity, history, network, people, upcoming
from scheduling.models import Location
from scheduling.services import slots_materialize


@dataclass
class SeedContext:
    net: network.Network
    rng: random.Random
    today: date
    patients: list[Patient]
    users: dict[str, list[User]]
    stdout: Any


LIMITS = {
    "locations": (1, 200),
    "providers": (1, 5000),
    "patients": (1, 1_000_000),
    "days": (1, 365),
}


class Command(BaseCommand):
    help = "Build a deterministic synthetic demo network (locations, providers, patients, slots, history)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--locations", type=int, default=12)
        parser.add_argument("--providers", type=int, default=60)
        parser.add_argument("--patients", type=int, default=5000)
        parser.add_argument("--days", type=int, default=90, help="Slot horizon in days")
        parser.add_argument("--history-months", type=int, default=6)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--reset", action="store_true", help="Delete existing demo data first")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if a network already exists"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        for name, (low, high) in LIMITS.items():
            value = opts[name]
            if not low <= value <= high:
                raise CommandError(f"--{name} must be between {low} and {high} (got {value})")
        if opts["providers"] < 2 * opts["locations"]:
            raise CommandError(
                f"--providers must be at least twice --locations (a dentist and a hygienist per "
                f"location): got {opts['providers']} providers for {opts['locations']} locations"
            )
        if not 0 <= opts["history_months"] <= 24:
            raise CommandError("--history-months must be between 0 and 24")
        if Location.objects.exists():
            if opts["if_empty"]:
                self.stdout.write("Demo network already present; leaving it as it is.")
                return
            if not opts["reset"]:
                raise CommandError(
                    "The database already holds a network. Use --reset to wipe it or --if-empty to skip."
                )
            self._reset()

        rng = random.Random(opts["seed"])
        today = timezone.now().date()
        started = time.monotonic()

        def step(label: str, since: float) -> float:
            now = time.monotonic()
            self.stdout.write(f"  {label:<34} {now - since:6.1f}s")
            return now

        mark = started
        with transaction.atomic():
            net = network.build_network(
                rng=rng, locations=opts["locations"], providers=opts["providers"], today=today
            )
            mark = step(
                f"network: {len(net.locations)} locations, {len(net.providers)} providers", mark
            )
            users = people.build_users(net)
            patients = people.build_patients(net, rng=rng, count=opts["patients"], today=today)
            mark = step(f"patients: {len(patients)}", mark)
            appts, calls = history.build_history(
                net,
                rng=rng,
                patients=patients,
                agents=users["agent"],
                today=today,
                months=opts["history_months"],
            )
            mark = step(f"history: {appts} appointments, {calls} calls", mark)
            kept = capacity.backfill_capacity(today=today, months=opts["history_months"])
            mark = step(f"capacity kept: {kept} provider-days", mark)
            time_off = upcoming.build_time_off(net, rng=rng, today=today)
        result = slots_materialize(days=opts["days"])
        mark = step(f"slots: {result.created} over {opts['days']} days", mark)
        with transaction.atomic():
            booked = upcoming.book_upcoming(
                net, rng=rng, patients=patients, agents=users["agent"], today=today
            )
            waitlist = upcoming.build_waitlist(
                net, rng=rng, patients=patients, agents=users["agent"], today=today
            )
        mark = step(
            f"upcoming bookings: {booked}, waitlist: {waitlist}, time off: {time_off}", mark
        )
        # Each app may add its own demo data (connectors, rule settings, claims) in
        # <app>/seed_extras.py with seed(context): kept apart so the apps stay decoupled.
        context = SeedContext(
            net=net, rng=rng, today=today, patients=patients, users=users, stdout=self.stdout
        )
        for app_label in ("scheduling", "patients", "billing", "integrations"):
            try:
                module = importlib.import_module(f"{app_label}.seed_extras")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app_label}.seed_extras":
                    raise
                continue
            with transaction.atomic():
                summary = module.seed(context)
            mark = step(f"{app_label}: {summary}", mark)
        self.stdout.write(
            self.style.SUCCESS(f"Demo network ready in {time.monotonic() - started:.1f}s.")
        )
        self.stdout.write(
            f"Logins (password '{people.DEMO_PASSWORD}'): agent, agent2, ops, biller, admin"
        )

    def _reset(self) -> None:
        from django.apps import apps
        from django.contrib.auth.models import User

        # Children before parents; PROTECT foreign keys make the order matter.
        order = [
            "billing.Adjustment",
            "billing.RemittanceClaim",
            "billing.Remittance",
            "billing.ClaimStatusHistory",
            "billing.ClaimFinding",
            "billing.DocumentationAttestation",
            "billing.Claim",
            "billing.ClaimBatch",
            "billing.Charge",
            "billing.Diagnosis",
            "billing.Encounter",
            "billing.EligibilityCheck",
            "integrations.OutboxEvent",
            "integrations.Message",
            "integrations.Connector",
            "scheduling.Hold",
            "scheduling.CapacityDay",
            "scheduling.Callback",
            "scheduling.AppointmentSlot",
            "scheduling.Waitlist",
            "scheduling.Appointment",
            "scheduling.Call",
            "scheduling.Slot",
            "patients.PatientMerge",
            "patients.DuplicateCandidate",
            "patients.ClinicalFact",
            "patients.ClinicalNeedRule",
            "patients.Coverage",
            "patients.PatientIdentifier",
        ]
        with transaction.atomic():
            for label in order:
                apps.get_model(label).objects.all().delete()
            from patients.models import Patient

            Patient.objects.filter(merged_into__isnull=False).delete()
            Patient.objects.all().delete()
            for label in [
                "billing.NetworkParticipation",
                "billing.FeeSchedule",
                "billing.Plan",
                "billing.Payer",
                "scheduling.TimeOff",
                "scheduling.ScheduleTemplate",
                "scheduling.Room",
                "scheduling.LocationClosure",
                "scheduling.LocationHours",
                "scheduling.Provider",
                "scheduling.AppointmentType",
                "scheduling.Location",
                "scheduling.Region",
                "scheduling.Equipment",
                "scheduling.Capability",
                "scheduling.AgentProfile",
            ]:
                apps.get_model(label).objects.all().delete()
            User.objects.filter(
                username__in=["agent", "agent2", "ops", "biller", "compliance", "admin"]
            ).delete()
            User.objects.filter(username__regex=r"^agent\d\d$").delete()
