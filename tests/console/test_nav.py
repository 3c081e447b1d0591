"""The top bar shows each role the pages it can open, and no others."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

LINKS = {
    "Console": "/console/",
    "KPIs": "/kpi/",
    "Integration health": "/integrations/health/",
    "Schedule changes": "/schedule/changes/",
    "Billing": "/billing/",
    "Compliance": "/compliance/",
    "Admin": "/admin/",
}


def nav_links(client, user) -> dict[str, str]:
    client.force_login(user)
    html = client.get("/", follow=True).content.decode()  # one workplace: straight there
    nav = re.search(r'<nav aria-label="Pages">(.*?)</nav>', html, re.S)
    assert nav is not None
    return {
        label: href for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav[1])
    }


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("agent", ["Console"]),
        ("ops_manager", ["KPIs", "Integration health", "Schedule changes"]),
        ("biller", ["Billing"]),
        ("compliance_officer", ["Compliance"]),
        (
            "admin_user",
            [
                "Console",
                "KPIs",
                "Integration health",
                "Schedule changes",
                "Billing",
                "Compliance",
                "Admin",
            ],
        ),
        ("outsider", []),
    ],
)
def test_each_role_sees_its_pages_and_no_others(client, request, role, expected):
    user = request.getfixturevalue(role)

    links = nav_links(client, user)

    assert links == {label: LINKS[label] for label in expected}


def test_the_current_page_is_marked(client, agent):
    client.force_login(agent)
    html = client.get("/console/").content.decode()
    assert '<a href="/console/" aria-current="page">Console</a>' in html


def test_a_forbidden_page_is_the_styled_403_with_a_way_home(client, biller):
    client.force_login(biller)

    response = client.get("/console/")

    assert response.status_code == 403
    page = response.content.decode()
    assert 'class="topbar"' in page  # the site's own page, not the bare default
    assert "You do not have access to this page" in page
    assert 'href="/" id="back-home"' in page
