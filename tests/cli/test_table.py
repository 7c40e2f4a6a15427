from __future__ import annotations

import random
import string

from tabulate import tabulate

from plg.cli.table import simple_table


def _value(rng: random.Random) -> object:
    pick = rng.random()
    if pick < 0.1:
        return None
    if pick < 0.2:
        return rng.choice([True, False])
    if pick < 0.35:
        return rng.randint(-50, 5000)
    if pick < 0.45:
        return round(rng.uniform(-5, 5), rng.randint(0, 4))
    return "".join(rng.choices(string.ascii_letters + string.digits + " .-=/@:", k=rng.randint(0, 12)))


def test_tables_print_exactly_as_tabulate_simple_did() -> None:
    """plg's tables skip importing tabulate; what users (and their scripts) read must not change."""
    rng = random.Random(17)
    for _ in range(500):
        columns = rng.randint(1, 6)
        headers = ["".join(rng.choices(string.ascii_letters + " ", k=rng.randint(0, 8))) for _ in range(columns)]
        rows = [[_value(rng) for _ in range(columns)] for _ in range(rng.randint(1, 5))]
        expected = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
        assert simple_table(rows, headers) == expected, (rows, headers)


def test_wide_and_multiline_cells_still_line_up() -> None:
    rows = [["crème brûlée", "two\nlines"], ["日本語", "x"]]
    expected = tabulate(rows, headers=["name", "note"], tablefmt="simple", disable_numparse=True)
    assert simple_table(rows, ["name", "note"]) == expected
