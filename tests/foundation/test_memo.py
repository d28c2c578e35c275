"""The memo of one keeps the last argument's result while the same object comes again."""

from __future__ import annotations

from foundation.memo import last_by_identity


def test_the_same_object_is_worked_out_once_an_equal_one_again() -> None:
    calls: list[object] = []

    @last_by_identity
    def length(items: list[int]) -> int:
        calls.append(items)
        return len(items)

    first, equal = [1, 2], [1, 2]
    assert [length(first), length(first), length(equal), length(first)] == [2, 2, 2, 2]
    assert [c is first for c in calls] == [True, False, True]
