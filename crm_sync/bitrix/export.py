"""The fast export pattern for full reads of large lists (notes §4).

Order by ID, filter `>ID` from the last ID seen, `start=-1` so the portal skips COUNT(*), and chain
up to 50 such pages in one batch: page k filters on `$result[k-1][49][ID]`, the ID of the last row
of the page before it. One batch request then carries up to 2,500 records, which is the platform's
ceiling (2 requests/s × 50 commands × 50 rows on the standard plan). A page with fewer than 50 rows
ends the list; commands after it referenced a row that does not exist and are discarded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from crm_sync.bitrix.client import MAX_BATCH, BitrixClient
from crm_sync.bitrix.errors import BitrixOperationLimit

PAGE = 50


def _rows(result: Any, wrapper: str | None) -> list[dict]:
    if wrapper and isinstance(result, Mapping):
        result = result.get(wrapper)
    if isinstance(result, Mapping):  # some methods key rows by position
        return list(result.values())
    return list(result or [])


def export_pages(
    client: BitrixClient,
    method: str,
    *,
    select: Sequence[str],
    filter: Mapping[str, Any] | None = None,
    id_field: str = "ID",
    row_id_field: str | None = None,
    after_id: int = 0,
    chain: int = MAX_BATCH,
    wrapper: str | None = None,
    extra_params: Mapping[str, Any] | None = None,
) -> Iterator[list[dict]]:
    """Yield the rows of `method` in ascending ID order, one list per batch request.

    `after_id` resumes an interrupted export; `wrapper` names the key list rows sit under
    (`items` for crm.item.list, `tasks` for tasks.task.list); `row_id_field` is the id's name in
    returned rows when it differs from the filter's (tasks filter on ID, return `id`).
    """
    chain = max(1, min(chain, MAX_BATCH))
    row_id_field = row_id_field or id_field
    last = after_id
    path = f"[{wrapper}]" if wrapper else ""
    while True:
        commands = {}
        for index in range(chain):
            boundary: Any = (
                last if index == 0 else f"$result[p{index - 1}]{path}[{PAGE - 1}][{row_id_field}]"
            )
            commands[f"p{index}"] = (
                method,
                {
                    **(extra_params or {}),
                    "select": list(select),
                    "filter": {**(filter or {}), f">{id_field}": boundary},
                    "order": {id_field: "ASC"},
                    "start": -1,
                },
            )
        answer = client.batch(commands)
        rows: list[dict] = []
        finished = False
        previous_id = last
        for index in range(chain):
            key = f"p{index}"
            if key in answer.errors:
                if index == 0 and not isinstance(answer.errors[key], BitrixOperationLimit):
                    raise answer.errors[key]
                break  # resume from the last good row; a blocked method is waited out
            page = _rows(answer.results.get(key), wrapper)
            if page and int(page[0][row_id_field]) <= previous_id:
                break  # the reference did not resolve: the page restarted; go on from real rows
            if page:
                previous_id = int(page[-1][row_id_field])
            rows.extend(page)
            if len(page) < PAGE:
                finished = True
                break
        if rows:
            last = int(rows[-1][row_id_field])
            yield rows
        if finished:
            return
