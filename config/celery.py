"""The Celery application.

Task conventions (see tenants.tasks.PortalTask): tasks take ids plus `portal_id` as keyword
arguments, switch to the portal's schema themselves and assert it; they are enqueued after commit
(`delay_on_commit`) and are idempotent, so late acks and redelivery are safe.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("keepwarm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
