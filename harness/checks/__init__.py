"""Smoke checks: each has an id, a name and a timeout, and runs before and after the upgrade.

Public surface: :class:`Check`, :class:`CheckContext`, :class:`CheckRun`, :func:`run_checks`,
:func:`builtin_checks` and :func:`scenario_checks`.
"""

from harness.checks._base import Check, CheckContext, CheckRun, poll, run_checks
from harness.checks.builtin import builtin_checks
from harness.checks.declared import scenario_checks

__all__ = ["Check", "CheckContext", "CheckRun", "builtin_checks", "poll", "run_checks", "scenario_checks"]
