"""Test helper: the GX results and the DuckDB split of a gate agree, check by check."""

from __future__ import annotations

from expectations.gate import GateResult


def assert_gx_agrees_with_split(gate: GateResult) -> None:
    """GX runs one expectation per declared spec check (a group of row checks).

    A check alone in its group must match GX's count exactly; a check sharing its group can
    fail no more rows than the group (the gate itself raises when a group's counts differ).
    """
    sizes: dict[str, int] = {}
    for check in gate.checks:
        sizes[check.group] = sizes.get(check.group, 0) + 1
    for check in gate.checks:
        assert check.gx_unexpected is not None, f"{check.name}: GX did not run"
        if sizes[check.group] == 1:
            assert check.gx_unexpected == check.failed_rows, check.name
        assert check.gx_unexpected >= check.failed_rows, check.name
