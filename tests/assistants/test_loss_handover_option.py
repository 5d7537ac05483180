"""`ladder.on_loss` with round robin and `cap_per_manager`, over a mirror written row by row.

A lost client's hand-over is a follow-up of its status change (assistants.services
.followups_create), assigned by the same code as the released assistant's. The sandbox scenarios
prove the named, supervisor, pool and open policies on a portal; the cap is a matter of counting
who owns how many clients, so it is proven here over hand-written loads: department 1 (head 90)
with managers 5, 6 and 7; manager 5 loses two clients.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from assistants.models import Decision
from assistants.services import followups_create
from assistants.settings_schema import settings_default
from crm_sync.models import Contact
from tests.assistants.test_rules import portal  # noqa: F401  (a fixture)
from tests.conftest import in_portal

LOADS = {6: 3, 7: 1, 90: 5}  # contacts each possible receiver already owns


def _loss(client_id: int) -> Decision:
    """A status change to Lost that was carried out for manager 5's client."""
    return Decision.objects.create(
        key=f"ladder:decay:3:{client_id}",
        assistant="ladder",
        rule="ladder.decay",
        entity_type_id=3,
        client_id=client_id,
        owner_id=5,
        action="set_status",
        params={"from": "new", "to": "lost", "lost": True},
        status=Decision.Status.DONE,
        executed_at=timezone.now(),
    )


def _handovers(cap: int | None) -> list[Decision]:
    settings = settings_default()
    settings["ladder"]["on_loss"] = {
        "policy": "round_robin",
        "user_id": None,
        "cap_per_manager": cap,
    }
    Contact.objects.bulk_create(
        [Contact(id=client_id, name="Lost", assigned_by_id=5) for client_id in (1, 2)]
        + [
            Contact(id=100 * owner + n, name="Busy", assigned_by_id=owner)
            for owner, count in LOADS.items()
            for n in range(count)
        ]
    )
    followups_create(decisions=[_loss(1), _loss(2)], settings=settings)
    return list(Decision.objects.filter(rule="ladder.loss_handover").order_by("client_id"))


@pytest.mark.parametrize(
    ("cap", "receivers"),
    [
        # No cap: the least loaded first (7), then the next (6).
        (None, [7, 6]),
        # Cap 2: 6 and 90 are at it already and get none; 7 takes one and then is at it too,
        # so the second lost client stays where it is.
        (2, [7, None]),
    ],
)
def test_a_lost_clients_round_robin_skips_managers_at_the_cap(portal, cap, receivers):  # noqa: F811
    with in_portal(portal):
        handovers = _handovers(cap)

    assert [d.params.get("to") for d in handovers] == receivers
    for decision, receiver in zip(handovers, receivers, strict=True):
        if receiver is None:
            assert decision.status == Decision.Status.SKIPPED
            assert "no eligible manager" in decision.last_error
        else:
            assert decision.status == Decision.Status.QUEUED
