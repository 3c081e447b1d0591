"""Second-factor helpers: a confirmed TOTP device per person, and its current code."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device(user: User) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="test phone", confirmed=True)


def totp_code(device: TOTPDevice) -> str:
    """The code the person's authenticator app shows now."""
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{value:0{device.digits}d}"


def verify_session(client: Client, user: User) -> None:
    """What entering a good code does: the session is marked verified by the device."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
    session.save()


class VerifiedClient(Client):
    """``force_login`` means fully signed in: password and, where the role needs it, a
    verified second factor. MFA tests use django.test.Client to see the gate itself."""

    def force_login(self, user, backend=None):  # type: ignore[no-untyped-def]
        super().force_login(user, backend)
        verify_session(self, user)
