"""Faults during a real Hyperband sweep under ``manage.py up``: worker SIGKILLs (one at rung
>= 2), a Ctrl-C and restart of ``up``, and with PostgreSQL also a Redis stop and restart and
two ``pg_terminate_backend`` rounds. The sweep must complete as if nothing happened.

The scenario lives in ``bench/faults.py`` (the benchmark prints the same figures). The sweep
is launched with ``manage.py launch`` in the scenario's environment, not from this process:
its tasks must reach the broker of the ``up`` under test, which is not this process's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from bench.faults import STALL_SLACK, run_scenario
from tests import workers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.django_db(transaction=True)
def test_sweep_survives_injected_faults(tmp_path: Path) -> None:
    postgres = connection.vendor == "postgresql"
    report = run_scenario(workers.test_database_env(), tmp_path, short=not postgres, timeout=240)
    print(report.text())
    figures = report.text()

    kinds = [f.kind for f in report.faults]
    assert kinds.count("sigkill") == 3, figures
    assert kinds.count("ctrl-c") == 1, figures
    if postgres:
        assert kinds.count("redis") == 2, figures  # stopped, started again
        assert kinds.count("pg_terminate") == 2, figures
    assert not report.not_injected, figures

    assert report.status == "completed", figures
    assert report.trials == report.max_trials, figures
    assert report.full_budget_trials >= 1, figures
    assert report.failed_trials == [], figures
    assert report.duplicate_results == 0, figures
    assert (report.duplicated_steps, report.missing_steps, report.extra_steps) == (0, 0, 0), figures
    assert report.longest_stall_s <= report.lease_s + STALL_SLACK, figures
    assert report.unplanned_up_exits == [], figures
    assert report.left_behind == [], figures
    if postgres:
        assert report.live.mode == "push", figures
    else:
        assert report.live.increments > 0, figures
    assert report.problems() == [], figures
