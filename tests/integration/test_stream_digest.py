"""The activity stream digest of issue 5 (seed 001: "a message to the stream that these clients'
statuses change soon"), played on a sandbox portal.

Managers' clients reach the mirror through the real install and sync; the pass plans one post per
manager per day; the notification run posts it with log.blogpost.add to that manager only; the
posts are read back from the portal itself. A portal installed without the `log` scope is never
asked, and its managers still get the warnings as notifications.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from assistants.messages import decision_reason
from assistants.models import Decision
from assistants.selectors import assistant_settings_current
from assistants.services import assistants_run
from crm_sync.bitrix.registry import requested_scopes
from crm_sync.models import Activity, Contact
from crm_sync.selectors import department_heads
from tests.conftest import in_portal
from tests.integration.test_assistant_scenarios import (
    PORTAL,
    _add,
    _calls,
    _notifications_to,
    _statuses,
    _until_mirrored,
)
from tests.integration.test_assistants_e2e import STATUS_FIELD, _records, _settings, slow_end_to_end

STREAM = "ladder.stream_digest"


def _posts(sandbox) -> list[dict]:
    return list(_records(sandbox, "blogpost").values())


def _post_requests(sandbox) -> int:
    return sandbox.tool("stats")["requests"].get("log.blogpost.add", 0)


def _clients(sandbox, portal, now, people: dict[str, tuple[int, str, int]]) -> dict[str, int]:
    """Contacts given a status by their manager and last called N days ago; their ids by key."""
    enum = _statuses(portal)
    ids = _add(
        sandbox,
        "crm.contact.add",
        {
            key: {
                "NAME": key.capitalize(),
                "LAST_NAME": "Streamov",
                "ASSIGNED_BY_ID": manager,
                STATUS_FIELD: enum[status],
            }
            for key, (manager, status, _) in people.items()
        },
    )
    calls = {
        key: _calls(3, ids[key], manager, [now - timedelta(days=days)])[0]
        for key, (manager, _, days) in people.items()
    }
    activity_ids = _add(sandbox, "crm.activity.add", calls)
    _until_mirrored(
        portal,
        "the clients, their statuses and their calls to reach the mirror",
        lambda: (
            Contact.objects.filter(pk__in=ids.values(), uf__has_key=STATUS_FIELD).count()
            == len(ids)
            and Activity.objects.filter(pk__in=activity_ids.values()).count() == len(activity_ids)
        ),
    )
    return ids


def _stream_settings(on: bool) -> None:
    _settings(
        forgotten__enabled=False,
        ladder__reset_on_calls=True,
        ladder__warn_days_before=3,
        notifications__stream_digest=on,
    )


@slow_end_to_end
def test_each_manager_gets_one_stream_post_of_their_clients_about_to_drop(synced_sandbox):
    """Off: no post. On: the preview shows one post per manager; the run posts it once, to that
    manager only, listing name, status, next status and date; the same run again, or an
    executor that crashed after posting and runs again, posts nothing new."""
    sandbox, portal = synced_sandbox(**PORTAL)
    now = timezone.now().replace(microsecond=0)
    manager, other, supervisor = 3, 4, 2
    # "New" lasts 10 days and is warned 3 days before: 8 and 9 silent days are warned, 5 not.
    ids = _clients(
        sandbox,
        portal,
        now,
        {
            "nine": (manager, "new", 9),
            "eight": (manager, "new", 8),
            "five": (manager, "new", 5),
            "other": (other, "new", 9),
        },
    )

    # Off: the warnings are planned, no stream post is.
    with in_portal(portal):
        _stream_settings(on=False)
        off, executed, _ = assistants_run(portal=portal, as_of=now, send_notifications=False)
        assert executed.failed == 0, executed.errors
        warned = {d.client_id for d in Decision.objects.filter(rule="ladder.warning")}
        assert warned == {ids["nine"], ids["eight"], ids["other"]}, off.counts
        assert not Decision.objects.filter(rule=STREAM).exists()

        # On: the preview shows the day's posts, and leaves nothing behind.
        _stream_settings(on=True)
        decisions = Decision.objects.count()
        preview, _, _ = assistants_run(portal=portal, as_of=now, dry_run=True)
        planned = [row for row in preview.planned if row["rule"] == STREAM]
        assert Decision.objects.count() == decisions
        own = [row for row in planned if not row["params"].get("team")]
        assert {row["owner_id"]: len(row["params"]["items"]) for row in own} == {
            manager: 2,
            other: 1,
        }
        # The supervisors' posts list their teams' clients (department 2 is headed by user 2).
        org = department_heads()
        heads = {org.supervisor_of(manager), org.supervisor_of(other)} - {None}
        team = {row["owner_id"]: row for row in planned if row["params"].get("team")}
        assert set(team) == heads and org.supervisor_of(manager) == supervisor
        assert {item[2] for item in team[supervisor]["params"]["items"]} >= {
            ids["nine"],
            ids["eight"],
        }
        assert preview.counts["ladder.stream_post"] == 2 + len(heads)

        _, executed, notified = assistants_run(portal=portal, as_of=now, send_notifications=True)
        assert executed.failed == 0 and notified.failed == 0, executed.errors + notified.errors
        stream = list(Decision.objects.filter(rule=STREAM))
        posts_of = {d.owner_id: d for d in stream if not d.params.get("team")}
        team_posts = {d.owner_id: d for d in stream if d.params.get("team")}
        assert {d.status for d in stream} == {"done"}
        # The warnings themselves still went out as notifications.
        assert set(
            Decision.objects.filter(rule="ladder.warning").values_list("status", flat=True)
        ) == {"done"}
    posts = {int(post["ID"]): post for post in _posts(sandbox)}
    assert len(posts) == len(stream) == 2 + len(heads)
    theirs_too = posts[team_posts[supervisor].result["post_id"]]
    assert theirs_too["DEST"] == [f"U{supervisor}"]
    assert (
        "Nine Streamov" in theirs_too["DETAIL_TEXT"]
        and "вашей команды" in theirs_too["DETAIL_TEXT"]
    )
    mine = posts[posts_of[manager].result["post_id"]]
    assert mine["DEST"] == [f"U{manager}"]  # visible to that manager, not to the whole company
    assert mine["TITLE"].endswith(f"(KW-{posts_of[manager].pk})")
    text = mine["DETAIL_TEXT"]
    due = (now - timedelta(days=9) + timedelta(days=10)).astimezone(timezone.get_default_timezone())
    assert "Nine Streamov" in text and "Eight Streamov" in text and "Five Streamov" not in text
    assert f"/crm/contact/details/{ids['nine']}/" in text
    assert "«Новый» → «Пропал» с " in text  # the portal speaks Russian
    assert f"{due:%d.%m}" in text or f"{due + timedelta(days=1):%d.%m}" in text
    theirs = posts[posts_of[other].result["post_id"]]
    assert theirs["DEST"] == [f"U{other}"] and "Other Streamov" in theirs["DETAIL_TEXT"]
    assert "Nine Streamov" not in theirs["DETAIL_TEXT"]
    assert any("Nine Streamov" in n for n in _notifications_to(sandbox, manager))

    # The same run again: nothing new on the portal.
    requests = _post_requests(sandbox)
    with in_portal(portal):
        _, executed, notified = assistants_run(portal=portal, as_of=now, send_notifications=True)
        assert executed.done == notified.done == 0
        assert Decision.objects.filter(rule=STREAM).count() == len(stream)
    assert _post_requests(sandbox) == requests and len(_posts(sandbox)) == len(stream)

    # A crash after the portal made the post and before the outbox stored it: the decision is
    # still `executing` with no result. The next run finds the post by its marker.
    stuck = posts_of[manager]
    with in_portal(portal):
        Decision.objects.filter(pk=stuck.pk).update(status="executing", result={})
        _, executed, _ = assistants_run(
            portal=portal, as_of=now + timedelta(minutes=5), send_notifications=True
        )
        assert executed.recovered == 1
        stuck.refresh_from_db()
    assert stuck.status == "done" and stuck.result["recovered"] is True
    assert stuck.result["post_id"] == int(mine["ID"])
    assert _post_requests(sandbox) == requests and len(_posts(sandbox)) == len(stream)


@slow_end_to_end
def test_a_portal_without_the_log_scope_gets_the_warnings_as_notifications_only(synced_sandbox):
    """Installed by an app version that did not ask for `log`: no call is made, each planned post
    says why it was skipped (in the portal's language), and the warnings are still delivered."""
    older = ",".join(scope for scope in requested_scopes() if scope != "log")
    sandbox, portal = synced_sandbox(scopes=older, **PORTAL)
    now = timezone.now().replace(microsecond=0)
    manager = 3
    ids = _clients(sandbox, portal, now, {"nine": (manager, "new", 9)})
    with in_portal(portal):
        _stream_settings(on=True)
        _, executed, notified = assistants_run(portal=portal, as_of=now, send_notifications=True)
        assert executed.failed == 0 and notified.failed == 0, executed.errors + notified.errors
        assert notified.skipped == Decision.objects.filter(rule=STREAM).count() >= 1
        assert set(Decision.objects.filter(rule=STREAM).values_list("status", flat=True)) == {
            "skipped"
        }
        [post] = Decision.objects.filter(rule=STREAM, params__team__isnull=True)
        [warning] = Decision.objects.filter(rule="ladder.warning", client_id=ids["nine"])
    assert post.status == "skipped" and "log" in post.last_error
    # Explained like any decision, in the reader's language.
    with in_portal(portal):
        document = assistant_settings_current().document
    assert "“log”" in decision_reason(post, document, "en")
    assert "«log»" in decision_reason(post, document, "ru")
    assert "уведомлени" in post.last_error  # Russian portal: the reason is in Russian
    assert warning.status == "done"
    assert any("Nine Streamov" in n for n in _notifications_to(sandbox, manager))
    assert _post_requests(sandbox) == 0 and not _posts(sandbox)
