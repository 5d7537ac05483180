"""Writes on portals: creation (with its schema), deletion, tokens and the scheduler tick."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.errors import Conflict, ValidationFailed
from tenants.jobs import portal_job_get, portal_jobs
from tenants.locks import lease_acquire, redis_client
from tenants.models import Portal, PortalJobSchedule
from tenants.tokens import portal_token_issue

logger = logging.getLogger(__name__)

_MEMBER_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-.:]{0,251}[A-Za-z0-9])?$")


def portal_schema_name(member_id: str) -> str:
    """A stable schema name that reveals nothing about the portal and fits PostgreSQL's 63."""
    return "p_" + hashlib.sha256(member_id.encode()).hexdigest()[:32]


def portal_create(
    *,
    member_id: str,
    domain: str,
    region: str = "",
    plan: str = Portal.Plan.STANDARD,
    install_state: str = Portal.InstallState.PENDING,
) -> Portal:
    """Create a portal row and its migrated schema (django-tenants creates it on save)."""
    if not _MEMBER_ID_RE.match(member_id or ""):
        raise ValidationFailed("member_id must be 1-64 letters, digits, '.', '_' or '-'.")
    if not _DOMAIN_RE.match(domain or ""):
        raise ValidationFailed("domain is not a valid host name.")
    if plan not in Portal.Plan.values:
        raise ValidationFailed(f"plan must be one of {', '.join(Portal.Plan.values)}.")
    if Portal.objects.filter(member_id=member_id).exists():
        raise Conflict(f"A portal with member_id {member_id} already exists.")
    connection.set_schema_to_public()
    portal = Portal(
        schema_name=portal_schema_name(member_id),
        member_id=member_id,
        domain=domain.lower(),
        region=region,
        plan=plan,
        install_state=install_state,
        installed_at=timezone.now() if install_state == Portal.InstallState.ACTIVE else None,
    )
    portal.save(verbosity=0)
    logger.info("portal created", extra={"portal_id": portal.pk, "schema": portal.schema_name})
    return portal


def portal_delete(*, portal: Portal) -> None:
    """Delete a portal row and drop its schema with everything in it."""
    connection.set_schema_to_public()
    schema = portal.schema_name
    portal.delete(force_drop=True)
    portal_event_identity_forget(member_id=portal.member_id)
    logger.info("portal deleted", extra={"schema": schema})


def portal_api_token_issue(
    *,
    portal: Portal,
    bitrix_user_id: int | None = None,
    ttl: timedelta | None = None,
    is_admin: bool = False,
) -> str:
    return portal_token_issue(
        portal_id=portal.pk,
        member_id=portal.member_id,
        audience="api",
        bitrix_user_id=bitrix_user_id,
        ttl=ttl,
        is_admin=is_admin,
    )


@dataclass(frozen=True)
class TickResult:
    enqueued: int
    skipped_by_lease: bool = False


def _schedule_rows_ensure(now: datetime) -> None:
    """Give every active portal a schedule row per registered job, in one statement."""
    names = [job.name for job in portal_jobs()]
    if not names:
        return
    table = PortalJobSchedule._meta.db_table
    portal_table = Portal._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (portal_id, job, next_run_at, last_outcome)
            SELECT p.id, j.name, %s, ''
            FROM {portal_table} p CROSS JOIN unnest(%s::text[]) AS j(name)
            WHERE p.install_state = %s
            ON CONFLICT (portal_id, job) DO NOTHING
            """,  # noqa: S608 - table names come from model metadata, values are parameters
            [now, names, Portal.InstallState.ACTIVE],
        )


def scheduler_tick_run(*, now: datetime | None = None, batch: int | None = None) -> TickResult:
    """Claim due portal jobs and enqueue them; safe when several schedulers tick at once.

    Rows are claimed with SELECT … FOR UPDATE SKIP LOCKED and pushed forward by their interval in
    the same transaction, so a second scheduler either waits out the lease or finds nothing due.
    Work per tick is bounded by `batch`; the rest waits for the next tick.
    """
    from tenants.tasks import portal_job_run

    now = now or timezone.now()
    batch = batch or settings.KEEPWARM_SCHEDULER_BATCH
    tick_seconds = settings.CELERY_BEAT_SCHEDULE["keepwarm-scheduler-tick"]["schedule"]
    if not lease_acquire("scheduler-tick", max(1.0, float(tick_seconds) * 0.8)):
        return TickResult(enqueued=0, skipped_by_lease=True)
    connection.set_schema_to_public()
    _schedule_rows_ensure(now)
    with transaction.atomic():
        due = list(
            PortalJobSchedule.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_run_at__lte=now, portal__install_state=Portal.InstallState.ACTIVE)
            .order_by("next_run_at", "id")[:batch]
        )
        claimed = []
        for row in due:
            job = portal_job_get(row.job)
            if job is None:  # a job that was removed from the code: leave its row alone
                continue
            row.next_run_at = now + job.interval
            row.last_enqueued_at = now
            claimed.append(row)
        PortalJobSchedule.objects.bulk_update(claimed, ["next_run_at", "last_enqueued_at"])
        for row in claimed:
            portal_job_run.delay_on_commit(portal_id=row.portal_id, job=row.job)
    return TickResult(enqueued=len(claimed))


def portal_job_finish(
    *, portal_id: int, job: str, outcome: str, retry_in: timedelta | None
) -> None:
    """Record how a job ended; a job that could not run is pulled forward to retry soon."""
    updates: dict = {"last_finished_at": timezone.now(), "last_outcome": outcome[:32]}
    if retry_in is not None:
        updates["next_run_at"] = timezone.now() + retry_in
    PortalJobSchedule.objects.filter(portal_id=portal_id, job=job).update(**updates)


def portal_credentials_save(
    *,
    portal: Portal,
    client_endpoint: str,
    server_endpoint: str,
    access_token: str,
    refresh_token: str,
    expires_in: int | None,
    application_token: str = "",
    scope: str = "",
    bitrix_user_id: int | None = None,
):
    """Store (or replace) a portal's tokens, encrypted; used at install and re-install."""
    from tenants.models import PortalCredentials

    expires_at = timezone.now() + timedelta(seconds=expires_in) if expires_in else None
    credentials, _ = PortalCredentials.objects.update_or_create(
        portal=portal,
        defaults={
            "client_endpoint": client_endpoint,
            "server_endpoint": server_endpoint,
            "access_token": access_token,
            "refresh_token": refresh_token,
            "access_expires_at": expires_at,
            "application_token": application_token,
            "scope": scope,
            "bitrix_user_id": bitrix_user_id,
        },
    )
    portal_event_identity_forget(member_id=portal.member_id)
    return credentials


def portal_credentials_rotate(
    *, portal_id: int, access_token: str, refresh_token: str, expires_in: int | None
) -> None:
    """Persist a refreshed token pair at once: the old refresh token is already dead."""
    from tenants.models import PortalCredentials

    credentials = PortalCredentials.objects.get(portal_id=portal_id)
    credentials.access_token = access_token
    credentials.refresh_token = refresh_token
    credentials.access_expires_at = (
        timezone.now() + timedelta(seconds=expires_in) if expires_in else None
    )
    credentials.refreshed_at = timezone.now()
    credentials.refresh_count += 1
    with transaction.atomic():
        credentials.save(
            update_fields=[
                "access_token",
                "refresh_token",
                "access_expires_at",
                "refreshed_at",
                "refresh_count",
                "updated_at",
            ]
        )


def portal_mark_disconnected(*, portal_id: int, reason: str) -> None:
    """Bitrix24 revoked us: stop all work for the portal instead of retrying forever."""
    updated = Portal.objects.filter(pk=portal_id, install_state=Portal.InstallState.ACTIVE).update(
        install_state=Portal.InstallState.DISCONNECTED, updated_at=timezone.now()
    )
    portal_event_identity_forget(
        member_id=Portal.objects.filter(pk=portal_id).values_list("member_id", flat=True).first()
    )
    if updated:
        logger.warning("portal disconnected", extra={"portal_id": portal_id, "reason": reason})


def portal_iframe_token_issue(
    *, portal: Portal, bitrix_user_id: int | None, is_admin: bool = False
) -> str:
    return portal_token_issue(
        portal_id=portal.pk,
        member_id=portal.member_id,
        audience="iframe",
        bitrix_user_id=bitrix_user_id,
        is_admin=is_admin,
    )


def staff_access_record(*, portal: Portal, user, action: str, detail: str = ""):
    """Audit a staff read of a portal's data, in the same request that reads it."""
    from tenants.models import StaffAccessLog

    return StaffAccessLog.objects.create(
        portal=portal,
        staff_user=user,
        staff_username=user.get_username(),
        action=action[:64],
        detail=detail[:500],
    )


def portal_event_identity_forget(*, member_id: str | None) -> None:
    """Drop the cached event identity (tenants.selectors.portal_event_identity) of a portal whose
    application token or install state changes: the next event reads the database again.

    Called by every writer of either. It forgets now and once more after the commit, so a reader
    that cached the old row between the two cannot keep it.
    """
    if not member_id:
        return
    from tenants.selectors import _event_identity_key

    key = _event_identity_key(member_id)
    redis_client().delete(key)
    transaction.on_commit(lambda: redis_client().delete(key))
