"""gitd's tests run against a gateway whose pipeline applies the branch rules and builds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support import PLAIN_SERVE, new_gateway


@pytest.fixture
def gateway(tmp_path: Path):
    """A started gateway with its own home; stopped after the test."""
    gw = new_gateway(tmp_path, PLAIN_SERVE)
    gw.start()
    yield gw
    gw.stop()
