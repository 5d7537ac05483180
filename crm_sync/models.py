"""Per-portal (tenant schema) models of the CRM sync app."""

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RestCallLog(models.Model):
    """One Bitrix24 REST request and its response, secrets masked.

    Marketplace rules require server apps to keep these at least 3 days; we keep them
    KEEPWARM_REST_LOG_RETENTION_DAYS and purge older rows periodically.
    """

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    method = models.CharField(_("method"), max_length=128, db_index=True)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True, default="")
    duration_ms = models.PositiveIntegerField(_("duration, ms"), default=0)
    request = models.JSONField(_("request (masked)"), default=dict, blank=True)
    response = models.JSONField(_("response (masked, truncated)"), default=dict, blank=True)

    class Meta:
        verbose_name = _("REST call")
        verbose_name_plural = _("REST calls")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.method} {self.http_status or ''}"


# --- The mirror -----------------------------------------------------------------------------------
# One table per Bitrix24 entity in the portal's schema, keyed by the Bitrix24 id. Rows are written
# only by set-based upserts (crm_sync.upsert); nothing else edits them. `uf` holds the entity's
# user-field values (UF_*) as JSONB with a GIN index, so rules and analytics can filter on any of
# a portal's custom fields.


class MirrorModel(models.Model):
    id = models.BigIntegerField(primary_key=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk}"


class Department(MirrorModel):
    name = models.CharField(max_length=255, blank=True, default="")
    parent_id = models.BigIntegerField(null=True, blank=True)
    head_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    sort = models.IntegerField(default=500)


class User(MirrorModel):
    name = models.CharField(max_length=255, blank=True, default="")
    last_name = models.CharField(max_length=255, blank=True, default="")
    active = models.BooleanField(default=True, db_index=True)
    department_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    user_type = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        indexes = [GinIndex(fields=["department_ids"], name="user_departments_gin")]


class UserFieldDefinition(models.Model):
    entity = models.CharField(max_length=32)  # CRM_CONTACT, CRM_COMPANY, CRM_DEAL, CRM_LEAD …
    field_name = models.CharField(max_length=64)
    bitrix_id = models.BigIntegerField(null=True, blank=True)
    user_type_id = models.CharField(max_length=64)
    multiple = models.BooleanField(default=False)
    label = models.CharField(max_length=255, blank=True, default="")
    enum_items = models.JSONField(default=list, blank=True)  # [{"id": 1, "value": "…"}]
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entity", "field_name"], name="uf_definition_unique")
        ]


class Category(models.Model):
    """A pipeline of deals (entity type 2) or smart invoices (31); category 0 is the default."""

    entity_type_id = models.PositiveSmallIntegerField()
    category_id = models.BigIntegerField()
    name = models.CharField(max_length=255, blank=True, default="")
    sort = models.IntegerField(default=500)
    is_default = models.BooleanField(default=False)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity_type_id", "category_id"], name="category_unique"
            )
        ]


class Stage(models.Model):
    """A stage or status from crm.status.list with its semantics (S success, F failure, P)."""

    entity_id = models.CharField(
        max_length=64
    )  # DEAL_STAGE, DEAL_STAGE_3, STATUS, SMART_INVOICE_STAGE_1
    status_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True, default="")
    sort = models.IntegerField(default=0)
    category_id = models.BigIntegerField(null=True, blank=True)
    semantics = models.CharField(max_length=1, default="P")
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entity_id", "status_id"], name="stage_unique")
        ]


class Contact(MirrorModel):
    name = models.CharField(max_length=255, blank=True, default="")
    last_name = models.CharField(max_length=255, blank=True, default="")
    second_name = models.CharField(max_length=255, blank=True, default="")
    company_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    type_id = models.CharField(max_length=64, blank=True, default="")
    source_id = models.CharField(max_length=64, blank=True, default="")
    assigned_by_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    opened = models.BooleanField(default=False)
    created_at = models.DateTimeField(null=True, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True, db_index=True)
    uf = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [GinIndex(fields=["uf"], name="contact_uf_gin", opclasses=["jsonb_path_ops"])]


class Company(MirrorModel):
    title = models.CharField(max_length=255, blank=True, default="")
    company_type = models.CharField(max_length=64, blank=True, default="")
    industry = models.CharField(max_length=64, blank=True, default="")
    is_my_company = models.BooleanField(default=False)
    assigned_by_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    opened = models.BooleanField(default=False)
    created_at = models.DateTimeField(null=True, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True, db_index=True)
    uf = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [GinIndex(fields=["uf"], name="company_uf_gin", opclasses=["jsonb_path_ops"])]


class Deal(MirrorModel):
    title = models.CharField(max_length=255, blank=True, default="")
    category_id = models.BigIntegerField(default=0, db_index=True)
    stage_id = models.CharField(max_length=64, blank=True, default="")
    stage_semantic = models.CharField(max_length=1, default="P")  # P in progress, S won, F lost
    type_id = models.CharField(max_length=64, blank=True, default="")
    opportunity = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    currency_id = models.CharField(max_length=8, blank=True, default="")
    company_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    contact_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    assigned_by_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    closed = models.BooleanField(default=False)
    begin_date = models.DateTimeField(null=True, blank=True)
    close_date = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True, db_index=True)
    uf = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [GinIndex(fields=["uf"], name="deal_uf_gin", opclasses=["jsonb_path_ops"])]


class Lead(MirrorModel):
    title = models.CharField(max_length=255, blank=True, default="")
    status_id = models.CharField(max_length=64, blank=True, default="")
    status_semantic = models.CharField(max_length=1, default="P")
    company_id = models.BigIntegerField(null=True, blank=True)
    contact_id = models.BigIntegerField(null=True, blank=True)
    assigned_by_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    opportunity = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    created_at = models.DateTimeField(null=True, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True, db_index=True)
    uf = models.JSONField(default=dict, blank=True)


class Activity(MirrorModel):
    """A call, e-mail, meeting, to-do … with its primary owner (OWNER_TYPE_ID, OWNER_ID).

    Every CRM record the activity is bound to, the owner included, is in ActivityBinding (after
    the first full sync only the owner, until the details backfill has read the rest).
    """

    owner_type_id = models.PositiveSmallIntegerField(default=0)
    owner_id = models.BigIntegerField(default=0)
    type_id = models.PositiveSmallIntegerField(
        default=0
    )  # 1 meeting 2 call 3 task 4 e-mail 6 provider
    provider_id = models.CharField(max_length=64, blank=True, default="")
    provider_type_id = models.CharField(max_length=64, blank=True, default="")
    direction = models.PositiveSmallIntegerField(default=0)  # 1 incoming 2 outgoing
    completed = models.BooleanField(default=False)
    status = models.PositiveSmallIntegerField(default=0)
    responsible_id = models.BigIntegerField(null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["owner_type_id", "owner_id"], name="activity_owner_idx")]


class ActivityBinding(models.Model):
    """One CRM record an activity shows on (crm.activity.binding.list): the owner and any other.

    An activity on a deal is usually bound to the client it reached as well, so "activities of a
    client" is a join through this table, not a look at the owner alone. Rows of an activity are
    replaced whole whenever the activity is re-read; they go when the activity goes.
    """

    activity_id = models.BigIntegerField()
    entity_type_id = models.PositiveSmallIntegerField()  # 1 lead 2 deal 3 contact 4 company 31 …
    entity_id = models.BigIntegerField()
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["activity_id", "entity_type_id", "entity_id"],
                name="activity_binding_unique",
            )
        ]
        indexes = [
            models.Index(fields=["entity_type_id", "entity_id"], name="activity_binding_entity_idx")
        ]

    def __str__(self) -> str:
        return f"activity {self.activity_id} → {self.entity_type_id}:{self.entity_id}"


class SmartInvoice(MirrorModel):
    title = models.CharField(max_length=255, blank=True, default="")
    category_id = models.BigIntegerField(default=0)
    stage_id = models.CharField(max_length=64, blank=True, default="")
    stage_semantic = models.CharField(max_length=1, default="P")  # S paid, F cancelled
    opportunity = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    currency_id = models.CharField(max_length=8, blank=True, default="")
    company_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    contact_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    deal_id = models.BigIntegerField(null=True, blank=True)
    assigned_by_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    begin_date = models.DateTimeField(null=True, blank=True)
    due_date = models.DateTimeField(null=True, blank=True)  # closedate: pay before
    created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True, db_index=True)
    uf = models.JSONField(default=dict, blank=True)


class Task(MirrorModel):
    status = models.PositiveSmallIntegerField(default=0)  # 2 pending 3 in progress 5 completed …
    responsible_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_by = models.BigIntegerField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    crm_bindings = ArrayField(models.CharField(max_length=32), default=list, blank=True)

    class Meta:
        indexes = [GinIndex(fields=["crm_bindings"], name="task_crm_bindings_gin")]


class Product(MirrorModel):
    name = models.CharField(max_length=255, blank=True, default="")
    section_id = models.BigIntegerField(null=True, blank=True)


class DealProductRow(MirrorModel):
    """A product row of a deal (crm.deal.productrows.get), keyed by the row's Bitrix24 id. A deal's
    rows are replaced whole whenever the deal is re-read (events, sweep) and by the details
    backfill after the first full sync, which does not read them; they go when the deal goes."""

    deal_id = models.BigIntegerField(db_index=True)
    product_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    product_name = models.CharField(max_length=255, blank=True, default="")
    price = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    quantity = models.DecimalField(max_digits=18, decimal_places=4, default=0)


class TimelineComment(MirrorModel):
    """A comment on a CRM record's timeline (crm.timeline.comment.*), keyed by its Bitrix24 id.

    Only what tells that a manager wrote to the record and when is kept: its length, not its
    text (comments may carry anything about a person; assistants need only "was it more than
    a dot"). `keepwarm` marks Keepwarm's own timeline posts, which are not contact with anyone.
    Bitrix24 lists comments one record at a time only, so history is read by the comments
    backfill (crm_sync.sync.comments) and changes by events; the sweep cannot see them.
    """

    entity_type_id = models.PositiveSmallIntegerField()  # 1 lead 2 deal 3 contact 4 company
    entity_id = models.BigIntegerField()
    author_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    length = models.PositiveIntegerField(default=0)  # characters of text, markup left out
    keepwarm = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["entity_type_id", "entity_id"], name="timeline_comment_entity_idx")
        ]


class SyncState(models.Model):
    """Where each entity's sync stands: the full-sync checkpoint and the sweep watermark."""

    entity = models.CharField(max_length=32, unique=True)
    full_done = models.BooleanField(default=False)
    full_after_id = models.BigIntegerField(default=0)  # resume a full export after this id
    records_done = models.BigIntegerField(default=0)
    records_total = models.BigIntegerField(null=True, blank=True)
    full_started_at = models.DateTimeField(null=True, blank=True)
    full_finished_at = models.DateTimeField(null=True, blank=True)
    swept_until = models.DateTimeField(null=True, blank=True)  # DATE_MODIFY watermark
    reconciled_at = models.DateTimeField(null=True, blank=True)
    # The details backfill (crm_sync.sync.backfill): detail rows a full sync leaves unread (a
    # deal's product rows, the bindings of an activity not owned by a client) are read after it,
    # in id order; this is the last record id whose details are stored.
    details_after_id = models.BigIntegerField(default=0)
    details_done = models.BooleanField(default=False)
    details_finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.entity


class SyncRun(models.Model):
    class Kind(models.TextChoices):
        FULL = "full", _("Full")
        SWEEP = "sweep", _("Sweep")
        RECONCILE = "reconcile", _("Reconciliation")
        EVENTS = "events", _("Events")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Touched with every batch written: a run that stops beating is resumed by sync_runs_resume.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    records_done = models.BigIntegerField(default=0)
    records_total = models.BigIntegerField(null=True, blank=True)
    requests = models.IntegerField(default=0)
    detail = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.status}"


class UserAbsence(models.Model):
    """An employee's absence from the portal's absence chart (a `calendar.accessibility.get`
    entry marked `absent`), so assistants leave absent managers alone even when nobody entered
    the leave in Keepwarm. Only a window around today is kept; each refresh replaces it whole
    (crm_sync.sync.absences)."""

    user_id = models.BigIntegerField()
    event_id = models.BigIntegerField()  # the calendar entry's ID in Bitrix24
    starts_on = models.DateField()  # the portal's local dates, both inclusive
    ends_on = models.DateField()
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_id", "event_id"], name="userabsence_unique"),
        ]
        indexes = [models.Index(fields=["ends_on", "starts_on"], name="userabsence_days")]

    def __str__(self) -> str:
        return f"user {self.user_id} absent {self.starts_on}..{self.ends_on}"
