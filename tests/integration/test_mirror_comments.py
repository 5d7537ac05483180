"""Timeline comments in the mirror: events bring additions, edits and deletions; the comments
backfill reads history (one list per record, further pages past 50) and resumes where it
stopped; only a comment's length is kept, and Keepwarm's own posts are recognised."""

from __future__ import annotations

import time

import pytest

from crm_sync.bitrix.client import BitrixClient
from crm_sync.models import Company, Contact, Deal, RestCallLog, SyncState, TimelineComment
from crm_sync.selectors import sync_status
from crm_sync.sync.comments import comments_backfill, comments_remaining
from tests.conftest import in_portal, wait_until
from tests.integration.mirror import patient_call
from tests.integration.test_sync import _full_sync_done

LONG = "Клиент подтвердил продление договора, созвон в пятницу."


def _comment_add(sandbox, entity_type: str, entity_id: int, text: str) -> int:
    answer = patient_call(
        sandbox,
        "crm.timeline.comment.add",
        {"fields": {"ENTITY_ID": entity_id, "ENTITY_TYPE": entity_type, "COMMENT": text}},
    )
    return int(answer["result"])


def _mirrored(portal, comment_id: int) -> TimelineComment | None:
    with in_portal(portal):
        return TimelineComment.objects.filter(pk=comment_id).first()


@pytest.mark.django_db(transaction=True)
def test_comment_events_reach_the_mirror(synced_sandbox):
    sandbox, portal = synced_sandbox()
    with in_portal(portal):
        contact_id = Contact.objects.order_by("pk").values_list("pk", flat=True).first()

    added = _comment_add(sandbox, "contact", contact_id, f"[b]{LONG}[/b]")
    ours = _comment_add(sandbox, "contact", contact_id, "Keepwarm: статус «Тёплый» (KW-12)")
    quoted = _comment_add(sandbox, "contact", contact_id, "Keepwarm: (KW-12) ошибся, звоню сам")
    wait_until(
        lambda: all(_mirrored(portal, i) for i in (added, ours, quoted)),
        timeout=20,
        what="the added comments to reach the mirror",
    )
    row = _mirrored(portal, added)
    assert (row.entity_type_id, row.entity_id, row.author_id) == (3, contact_id, 1)
    assert row.length == len(LONG) and not row.keepwarm  # markup does not count
    assert row.created_at is not None
    assert _mirrored(portal, ours).keepwarm  # the assistants' own post
    assert not _mirrored(portal, quoted).keepwarm  # a manager's words around a marker

    patient_call(sandbox, "crm.timeline.comment.update", {"id": added, "fields": {"COMMENT": "."}})
    wait_until(
        lambda: _mirrored(portal, added).length == 1,
        timeout=20,
        what="the edited comment to reach the mirror",
    )
    patient_call(sandbox, "crm.timeline.comment.delete", {"id": added})
    wait_until(
        lambda: _mirrored(portal, added) is None,
        timeout=20,
        what="the deleted comment to leave the mirror",
    )
    assert _mirrored(portal, ours) is not None


def _list_reads() -> list[str]:
    """Keys of every comment list command Keepwarm sent (`company_7`, `company_7_50` …)."""
    keys: list[str] = []
    for request in RestCallLog.objects.filter(method="batch", http_status=200).values_list(
        "request", flat=True
    ):
        keys.extend(
            key
            for key, command in (request.get("cmd") or {}).items()
            if str(command).startswith("crm.timeline.comment.list")
        )
    return keys


@pytest.mark.django_db(transaction=True)
def test_the_backfill_reads_history_past_a_page_and_resumes(
    sandbox_factory, connect, celery_worker
):
    sandbox = sandbox_factory()
    # History written before Keepwarm is installed (no event tells of it): 120 comments on one
    # company, three pages of the list; the generated portal has some comments of its own.
    busy = 1
    for start in range(0, 120, 50):
        patient_call(
            sandbox,
            "batch",
            {
                "halt": 1,
                "cmd": {
                    f"c{n}": "crm.timeline.comment.add?fields[ENTITY_TYPE]=company"
                    f"&fields[ENTITY_ID]={busy}&fields[COMMENT]=note{n:03d}"
                    for n in range(start, min(start + 50, 120))
                },
            },
        )
    portal = connect(sandbox)
    _full_sync_done(portal)

    with in_portal(portal):
        # The first sync reads no comment: its records are usable without them.
        assert not TimelineComment.objects.exists() and _list_reads() == []
        companies = list(Company.objects.order_by("pk").values_list("pk", flat=True))
        assert companies[0] == busy
        client = BitrixClient.for_portal(portal)
        held = comments_backfill(client, should_yield=lambda: True)
        assert (held.requests, held.records) == (0, 0)
        # Ten companies to a request: the first, whose comments fill three pages, needs one
        # more request for pages two and three; stopped after those two requests.
        first = comments_backfill(client, max_requests=2, per_request=10)
        assert (first.requests, first.records, first.done) == (2, 10, False)
        assert SyncState.objects.get(entity="comments_company").details_after_id == companies[9]
        assert TimelineComment.objects.filter(entity_type_id=4, entity_id=busy).count() == 120
        assert comments_remaining()["company"] == len(companies) - 10
        status = sync_status()
        progress = {entity.entity: entity.comments_left for entity in status.entities}
        assert progress["company"] == len(companies) - 10 and progress["lead"] is None
        assert "Comments backfill:" in status.summary
        rest = comments_backfill(BitrixClient.for_portal(portal), per_request=10)
        assert rest.done
        assert comments_backfill(BitrixClient.for_portal(portal)).requests == 0

        reads = _list_reads()
        assert len(reads) == len(set(reads)), "a page was read twice"
        # One first page per company, contact and deal; further pages only for the busy one.
        assert len([key for key in reads if key.count("_") == 1]) == (
            len(companies) + Contact.objects.count() + Deal.objects.count()
        )
        assert sorted(key for key in reads if key.count("_") == 2) == [
            f"company_{busy}_100",
            f"company_{busy}_50",
        ]
        mirrored = {
            row.pk: (row.entity_type_id, row.entity_id, row.length)
            for row in TimelineComment.objects.all()
        }

    types = {"lead": 1, "deal": 2, "contact": 3, "company": 4}
    remote = {
        int(row["ID"]): (types[row["ENTITY_TYPE"]], int(row["ENTITY_ID"]), len(row["COMMENT"]))
        for row in sandbox.tool("records/comment")
    }
    assert mirrored == remote
    # Reading a record's comments needs its id and type: the portal refuses a list without them.
    refused = _refusal(sandbox, "crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal"}})
    assert refused.status_code == 400 and "ENTITY_ID" in refused.json()["error_description"]
    missing = _refusal(sandbox, "crm.timeline.comment.get", {"id": 10**9})
    assert missing.status_code == 400 and missing.json()["error_description"] == "Not found."


def _refusal(sandbox, method: str, params: dict):
    """A webhook call expected to fail, once the portal's rate limit (which the backfill may
    just have used up) lets it through."""
    for _ in range(200):
        response = sandbox.hook(method, params)
        if response.status_code != 503:
            return response
        time.sleep(0.5)
    raise AssertionError(f"{method} stayed rate-limited")
