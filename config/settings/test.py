"""Settings for the test suite: real PostgreSQL, real Redis, real Celery worker."""

import os
import secrets

from .base import *  # noqa: F403
from .base import CACHES, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Locks, leases and queues of one test run never meet those of another run or of `make demo`.
# Not the process id alone: a container gives the next run the same one, and the embedded Redis
# keeps the last run's leases (a day's "digest sent" lease made a later run skip its digests).
KEEPWARM_REDIS_NAMESPACE = env(
    "KEEPWARM_REDIS_NAMESPACE", default=f"keepwarm-test-{os.getpid()}-{secrets.token_hex(4)}"
)
CACHES["default"]["KEY_PREFIX"] = KEEPWARM_REDIS_NAMESPACE
CELERY_TASK_DEFAULT_QUEUE = KEEPWARM_REDIS_NAMESPACE
# Static files are not served in tests; WhiteNoise would only warn that STATIC_ROOT is missing.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405
