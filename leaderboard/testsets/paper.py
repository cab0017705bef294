"""The paper's Table 2 (data/paper_table2.json) as ReportedResult rows."""

from __future__ import annotations

import json
from pathlib import Path

TABLE = Path(__file__).with_name("data") / "paper_table2.json"


def table_rows() -> list[dict]:
    """One dict per method: ``method``, ``source``, ``note``, ``position`` and ``<metric>_mean/_std``."""
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    rows = []
    for position, row in enumerate(table["rows"], start=1):
        values = {"method": row["method"], "source": table["source"], "note": table["note"], "position": position}
        for key, cell in zip(table["columns"], row["values"], strict=True):
            values[f"{key}_mean"], values[f"{key}_std"] = (cell if cell is not None else (None, None))
        rows.append(values)
    return rows


def load_into(model) -> int:
    """Create or update every row (by method name); returns how many."""
    rows = table_rows()
    for values in rows:
        model.objects.update_or_create(method=values["method"], defaults=values)
    return len(rows)
