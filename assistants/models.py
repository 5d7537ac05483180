"""Per-portal (tenant schema) models of the assistants app."""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _


class AssistantSettings(models.Model):
    """One version of a portal's assistant settings; the highest version is current.

    Versions are never edited in place, so every decision can name the settings it was made under.
    """

    version = models.PositiveIntegerField(_("version"), unique=True)
    document = models.JSONField(_("settings"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.CharField(_("changed by"), max_length=128, blank=True, default="")

    class Meta:
        verbose_name = _("assistant settings")
        verbose_name_plural = _("assistant settings")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version}"


class AssistantPass(models.Model):
    """One evaluation of every assistant over the mirror, as of a moment."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    as_of = models.DateTimeField(_("as of"))
    settings_version = models.PositiveIntegerField(_("settings version"), default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"pass {self.pk} as of {self.as_of:%Y-%m-%d %H:%M}"


class ClientState(models.Model):
    """The ladder status of one client and the moment its clock started."""

    entity_type_id = models.PositiveSmallIntegerField()  # 3 contact, 4 company
    client_id = models.BigIntegerField()
    status = models.CharField(max_length=32)
    status_since = models.DateTimeField()
    # The enumeration value last seen in (or written to) the client's Bitrix24 status field: a
    # different value in the mirror means a person changed the status.
    bitrix_value = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity_type_id", "client_id"], name="client_state_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entity_type_id}:{self.client_id} {self.status}"


class Decision(models.Model):
    """What an assistant decided about one client, why, and what became of it (the outbox)."""

    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
        QUEUED = "queued", _("Queued")
        EXECUTING = "executing", _("Executing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")
        UNDONE = "undone", _("Undone")

    # Machine identifiers: byte order ("C") keeps their indexes cheap to maintain on a cold pass.
    key = models.CharField(max_length=200, db_collation="C")  # idempotency key: unique, see Meta
    # No database constraint: a cold pass writes ~100,000 decisions of the pass it creates in the
    # same transaction, and PostgreSQL checks a foreign key row by row (about a second). Django
    # still sets it to NULL when a pass is deleted. Indexed by decision_pass_brin_idx.
    pass_ref = models.ForeignKey(
        AssistantPass,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="decisions",
        db_constraint=False,
        db_index=False,
    )
    assistant = models.CharField(max_length=32)
    rule = models.CharField(max_length=64, db_collation="C")
    rule_version = models.PositiveIntegerField(default=0)
    entity_type_id = models.PositiveSmallIntegerField()
    client_id = models.BigIntegerField()
    owner_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    facts = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, default="")
    status = models.CharField(  # see decision_outbox_idx
        max_length=24, choices=Status.choices, db_collation="C"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    undo_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="undone_by",
        db_index=False,  # decision_undo_of_idx: only the few compensations are indexed
    )
    created_at = models.DateTimeField(auto_now_add=True)
    executed_at = models.DateTimeField(null=True, blank=True)

    # Every index here is paid for on each of the ~100,000 rows of a cold pass: no index that
    # another one already covers (status alone, pattern-ops copies of key and status).
    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["key"], name="decision_key_unique")]
        indexes = [
            models.Index(
                fields=["undo_of"],
                name="decision_undo_of_idx",
                condition=models.Q(undo_of__isnull=False),
            ),
            models.Index(fields=["entity_type_id", "client_id"], name="decision_client_idx"),
            # A pass appends its decisions in one transaction, so they sit in adjacent pages: a
            # block-range index finds them as well as a B-tree and costs nearly nothing to keep
            # up on a cold pass's ~100,000 inserts.
            BrinIndex(fields=["pass_ref"], name="decision_pass_brin_idx", autosummarize=True),
            models.Index(fields=["status", "id"], name="decision_outbox_idx"),
            # The released assistant reads done reminder tasks; rules find open ones through a
            # per-pass temp table, so no index on every decision's rule is needed. This one is
            # only written when a reminder is carried out, not on a cold pass's inserts.
            models.Index(
                fields=["entity_type_id", "client_id"],
                name="decision_reminder_done_idx",
                condition=models.Q(rule="forgotten.client", status="done"),
            ),
            # Two small sets every pass reads, which would otherwise cost a scan of the whole
            # (ever-growing) table each: decays not carried out yet (the warning rule skips those
            # clients) and digest items still waiting for their digest task.
            models.Index(
                fields=["entity_type_id", "client_id"],
                name="decision_decay_pending_idx",
                condition=models.Q(rule="ladder.decay", status__in=["queued", "executing"]),
            ),
            models.Index(
                fields=["id"],
                name="decision_digest_waiting_idx",
                condition=models.Q(action="digest_item", status="queued"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.entity_type_id}:{self.client_id} {self.status}"


class ClientEvent(models.Model):
    """The client's history: every status change and assistant action, with its reason."""

    entity_type_id = models.PositiveSmallIntegerField()
    client_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=32)  # status_changed, task_created, reassigned, …
    detail = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True, default="")
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["entity_type_id", "client_id"], name="event_client_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.entity_type_id}:{self.client_id}"


class ClientSnooze(models.Model):
    """A manager's "not now": the client is not forgotten or released until `until`."""

    entity_type_id = models.PositiveSmallIntegerField()
    client_id = models.BigIntegerField()
    until = models.DateField()
    reason = models.CharField(max_length=500)
    created_by = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["entity_type_id", "client_id"], name="snooze_client_idx")]

    def __str__(self) -> str:
        return f"{self.entity_type_id}:{self.client_id} until {self.until}"


class ManagerAbsence(models.Model):
    """Leave and sick days: no releases from, and no hand-overs to, an absent manager."""

    user_id = models.BigIntegerField(db_index=True)
    starts_on = models.DateField()
    ends_on = models.DateField()
    reason = models.CharField(max_length=200, blank=True, default="")

    def __str__(self) -> str:
        return f"user {self.user_id} away {self.starts_on}..{self.ends_on}"
