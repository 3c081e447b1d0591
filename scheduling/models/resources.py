"""Resources a visit takes besides its provider's slots: mobile equipment shared between
nearby locations, and the room or equipment time a visit or a block (sterilization,
maintenance) occupies."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from .network import Location, Room


class MobileEquipment(models.Model):
    """A portable device (a portable X-ray, a sedation cart) that travels between the
    locations it serves: booked at one of them, it is busy at all of them."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    serves = models.ManyToManyField(Location, blank=True, related_name="mobile_equipment")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "mobile equipment"

    def __str__(self) -> str:
        return self.name


class ResourceBooking(models.Model):
    """A room or a piece of mobile equipment taken for a time: by a visit (``appointment``
    set) or as a block with a reason (sterilization, maintenance, repair).

    On PostgreSQL exclusion constraints (migration 0019) refuse two active bookings of
    the same equipment or the same room whose times overlap; everywhere, the services
    lock the room or equipment row before they check and write.
    """

    room = models.ForeignKey(
        Room, null=True, blank=True, on_delete=models.CASCADE, related_name="resource_bookings"
    )
    equipment = models.ForeignKey(
        MobileEquipment,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="bookings",
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="resource_bookings",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=120, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(room__isnull=True, equipment__isnull=False)
                | Q(room__isnull=False, equipment__isnull=True),
                name="resource_booking_one_resource",
                violation_error_message="Choose a room or a piece of mobile equipment, not both.",
            ),
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="resource_booking_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(appointment__isnull=False) | ~Q(reason=""),
                name="resource_block_has_reason",
                violation_error_message="A block needs a reason.",
            ),
        ]
        indexes = [
            # Search and booking read one resource's active bookings over a time range.
            models.Index(
                fields=["equipment", "start"],
                condition=Q(active=True),
                name="resbooking_equipment_idx",
            ),
            models.Index(
                fields=["room", "start"], condition=Q(active=True), name="resbooking_room_idx"
            ),
        ]

    def __str__(self) -> str:
        what = self.room or self.equipment
        kind = f"visit #{self.appointment_id}" if self.appointment_id else self.reason
        return f"{what} {self.start:%Y-%m-%d %H:%M}Z ({kind})"

    @property
    def is_block(self) -> bool:
        return self.appointment_id is None
