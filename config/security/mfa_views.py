"""Enrolling an authenticator (TOTP, RFC 6238) and entering its code after the password."""

from __future__ import annotations

import base64
from typing import Any

import segno
from django import forms
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.audit import audit_security_event

ERR_BAD_CODE = "That code did not match. Check the time on your phone and try the newest code."
DEVICE_NAME = "Authenticator app"


class CodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\s*\d{6,8}\s*$",
        error_messages={"invalid": "Enter the 6-digit code your authenticator shows."},
    )


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and safe else settings.LOGIN_REDIRECT_URL


def _verified(request: HttpRequest, device: Any, event: str) -> HttpResponse:
    user: Any = request.user
    otp_login(request, device)
    audit_security_event(actor=user, instance=user, event=event)
    return redirect(_next_url(request))


def mfa_verify(request: HttpRequest) -> HttpResponse:
    """The second step of sign-in for someone with a confirmed device."""
    user: Any = request.user
    devices = list(devices_for_user(user, confirmed=True))
    if not devices:
        return redirect(f"/accounts/mfa/setup/?{request.META.get('QUERY_STRING', '')}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip()
        # verify_token applies django-otp's per-device throttle (growing delays).
        device = next((d for d in devices if d.verify_token(code)), None)
        if device is not None:
            return _verified(request, device, "mfa_verified")
        audit_security_event(actor=user, instance=user, event="mfa_failed")
        form.add_error("code", ERR_BAD_CODE)
    return render(
        request,
        "registration/mfa_verify.html",
        {"form": form, "next": _next_url(request)},
        status=200 if request.method == "GET" or form.is_valid() else 400,
    )


def mfa_setup(request: HttpRequest) -> HttpResponse:
    """Enrolment: the secret and its QR code are shown until a first code confirms them;
    after that this page only sends the user to the code step."""
    user: Any = request.user
    if any(True for _ in devices_for_user(user, confirmed=True)):
        return redirect(f"/accounts/mfa/?{request.META.get('QUERY_STRING', '')}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"].strip()):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            return _verified(request, device, "mfa_enrolled")
        form.add_error("code", ERR_BAD_CODE)
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4, title="Authenticator QR code")
    context = {
        "form": form,
        "next": _next_url(request),
        "secret": base64.b32encode(device.bin_key).decode(),
        "qr_svg": mark_safe(qr),  # noqa: S308 (segno's own markup, no user input)
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "registration/mfa_setup.html", context, status=status)
