import contextlib
import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
application = get_wsgi_application()


def _warm_up() -> None:
    """Load now, while the worker starts, what requests would otherwise load on first use: the
    URLconf with every view, the event path's services, the translation catalogs, the Celery
    producer (best effort: a broker that is down must not stop the web app from starting).

    On a busy machine that is up to seconds, and Bitrix24 delivers events one at a time, each
    after the previous answer: one slow answer holds up every event queued behind it.
    """
    from django.conf import settings
    from django.urls import resolve
    from django.utils import translation
    from kombu.exceptions import OperationalError

    import crm_sync.tasks  # noqa: F401 - the event endpoint imports it on first use
    from config.celery import app

    resolve("/b24/events/")
    for code, _ in settings.LANGUAGES:
        translation.trans_real.translation(code)  # load each catalogue once, now
    app.finalize(auto=True)
    with contextlib.suppress(OSError, OperationalError), app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)
    # Everything loaded so far lives as long as the worker: keep it out of the garbage collector's
    # full passes, which otherwise walk it again and again (tens of ms each, mid-request).
    gc.freeze()


_warm_up()
