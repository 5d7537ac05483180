"""Production settings: everything secret or host-specific must come from the environment."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")  # no default: refuse to start without a real key
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
# Cookies travel over HTTPS only and are never readable by scripts.
# - The app inside the Bitrix24 iframe (a third-party context) authenticates with Bearer tokens,
#   not cookies. Its cookies (CSRF, for any form posted inside the frame; the chosen language)
#   need SameSite=None; Secure to be sent there at all.
# - The session cookie belongs to vendor staff and client admins, who work at our own top-level
#   pages, never inside the frame: it keeps SameSite=Lax, so no other site can make a browser
#   send it with a cross-site POST.
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "None"
LANGUAGE_COOKIE_SECURE = True
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "None"
X_FRAME_OPTIONS = "DENY"  # iframe views opt out one by one and send CSP frame-ancestors
KEEPWARM_ENCRYPTION_KEYS = env.list("KEEPWARM_ENCRYPTION_KEYS")  # required: never derived
BITRIX_CLIENT_ID = env("BITRIX_CLIENT_ID")
BITRIX_CLIENT_SECRET = env("BITRIX_CLIENT_SECRET")
BITRIX_OAUTH_SERVERS = env.list(
    "BITRIX_OAUTH_SERVERS",
    default=["https://oauth.bitrix.info/rest/", "https://oauth.bitrix24.tech/rest/"],
)
