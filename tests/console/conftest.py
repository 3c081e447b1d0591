from __future__ import annotations

import pytest


@pytest.fixture
def console(client, agent):
    client.force_login(agent)
    return client
