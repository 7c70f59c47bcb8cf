"""The suite's xdist groups reach pytest-xdist's scheduler (a pytest release once broke this silently,
and every group's session fixtures were then built on every worker)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("grouping-check")


def test_xdist_groups_reach_the_scheduler(request):
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run by `make test` (pytest -n 2 --dist loadgroup)")
    assert request.node.nodeid.endswith("@grouping-check"), request.node.nodeid
