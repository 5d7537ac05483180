"""The assistants' part of `make demo`: real passes over a freshly synced sandbox portal.

Nothing is staged: the portal's generated history decides who is forgotten. The second pass is
evaluated twelve days ahead (the `as_of` every pass accepts) so that the tasks of the first pass
are a week overdue and the released assistant hands their clients over, which is what a
supervisor would otherwise wait two weeks to see.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import httpx
from django.utils import timezone

from assistants.executor import notifications_send, outbox_execute
from assistants.messages import decision_reason
from assistants.models import Decision
from assistants.selectors import assistant_settings_current
from assistants.services import assistant_settings_save, assistants_run, pass_approve

FAST_FORWARD = timedelta(days=12)


def demo_story(*, portal, sandbox_base: str, write: Callable[[str], None]) -> dict:
    """Run the demo passes and report what landed on the portal; returns the portal's counts."""
    document = assistant_settings_current().document
    document["released"]["enabled"] = True
    document["forgotten"]["days"] = 60  # a calmer first day than 30 on a portal never tended
    document["notifications"]["stream_digest"] = True  # warnings also as activity stream posts
    assistant_settings_save(document=document, changed_by="make demo")

    write("• Assistants, first pass (now): preview, then act")
    preview, _, _ = assistants_run(portal=portal, dry_run=True)
    _counts(write, "preview", preview.counts)
    result, executed, _ = assistants_run(portal=portal, send_notifications=True)
    _drain(write, portal, result.as_of, executed)
    for decision in Decision.objects.filter(pass_ref_id=result.pass_id).order_by("id")[:5]:
        client = f"{decision.entity_type_id}:{decision.client_id}"
        reason = decision_reason(decision, document, portal.language or "ru")
        write(f"  - {decision.rule} {decision.action} {client}: {reason}")

    _wait_for_tasks_in_mirror(write)
    later = result.as_of + FAST_FORWARD
    write(f"• Assistants, {FAST_FORWARD.days} days later: forgotten tasks are a week overdue")
    second, executed, notified = assistants_run(portal=portal, as_of=later, send_notifications=True)
    _counts(write, "decided", second.counts)
    held = Decision.objects.filter(pass_ref_id=second.pass_id, status="awaiting_approval").count()
    if held:
        write(f"  {held} hand-overs exceed the mass-reassignment limit: approving them (demo)")
        pass_approve(pass_id=second.pass_id)
    _drain(write, portal, later, executed)
    notified = notifications_send(portal=portal, now=later)
    write(f"  {notified.done} notifications delivered in daily digests")
    return _on_the_portal(sandbox_base)


def _drain(write, portal, now, executed) -> None:
    """Carry out the whole outbox (the periodic job does it 1,000 decisions at a time)."""
    done, failed = executed.done, executed.failed
    while Decision.objects.filter(status="queued").exclude(action="notify").exists():
        more = outbox_execute(portal=portal, now=now)
        done, failed = done + more.done, failed + more.failed
        write(f"  executed {done} decisions so far ({failed} failed)")
        if not more.done and not more.failed:
            break
    write(f"  executed {done} decisions ({failed} failed)")


def _counts(write, label: str, counts: dict) -> None:
    shown = {name: n for name, n in sorted(counts.items()) if not name.startswith("rule.")}
    write(f"  {label}: " + (", ".join(f"{name} {n}" for name, n in shown.items()) or "nothing"))


def _wait_for_tasks_in_mirror(write, timeout: float = 60) -> None:
    """The tasks we created come back as events; the second pass must see them."""
    from crm_sync.selectors import mirrored_task_ids

    created = {
        int(task_id)
        for task_id in Decision.objects.filter(
            action="create_task", status="done", result__has_key="task_id"
        ).values_list("result__task_id", flat=True)
    }
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if created <= mirrored_task_ids(created):
            return
        time.sleep(0.5)
    write("  (some new tasks have not reached the mirror yet; the sweep will bring them)")


def _on_the_portal(sandbox_base: str) -> dict:
    """Count what the sandbox portal now holds that Keepwarm made (marked `(KW-<id>)`)."""
    with httpx.Client(base_url=sandbox_base, timeout=60) as http:
        tasks = http.get("/sandbox/records/task").json()
        comments = http.get("/sandbox/records/comment").json()
        posts = http.get("/sandbox/records/blogpost").json()
        notifications = http.get("/sandbox/notifications").json()
        owners = {
            (entity_type, int(row["ID"])): int(row["ASSIGNED_BY_ID"] or 0)
            for entity_type, entity in ((3, "contact"), (4, "company"))
            for row in http.get(f"/sandbox/records/{entity}").json()
        }
    handed_over = Counter(
        owners.get((d.entity_type_id, d.client_id)) == int(d.params.get("to") or 0)
        for d in Decision.objects.filter(action="reassign", status="done")
    )
    return {
        "tasks": sum("(KW-" in str(row.get("TITLE", "")) for row in tasks),
        "comments": sum("(KW-" in str(row.get("COMMENT", "")) for row in comments),
        "notifications": len(notifications),
        "feed_posts": sum("(KW-" in str(row.get("TITLE", "")) for row in posts),
        "reassigned": handed_over[True],
        "as_of": timezone.now().isoformat(),
    }
