from __future__ import annotations

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "config.security"
    label = "hub_security"
    verbose_name = "Security"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from .sessions import session_stamp_sign_in
        from .throttle import lockout_report, login_failure_count

        user_logged_in.connect(session_stamp_sign_in, dispatch_uid="security.session_stamp")
        user_login_failed.connect(login_failure_count, dispatch_uid="security.login_failure")
        user_locked_out.connect(lockout_report, dispatch_uid="security.lockout_report")
