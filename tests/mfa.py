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


def browser_sign_in(page, base_url: str, user: User, then: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the forms as the person would: password, then the code their
    authenticator shows (a device is enrolled for them first), then open ``then``."""
    device = totp_device(user)
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", user.get_username())
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", totp_code(device))
    page.press("input[name=code]", "Enter")
    page.wait_for_load_state()
    page.goto(f"{base_url}{then}")
