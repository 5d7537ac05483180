from django.conf import settings
from django.core.checks import Error, register


@register()
def rest_log_retention_check(app_configs, **kwargs):
    """Marketplace rules require REST logs to be kept at least 3 days."""
    if settings.KEEPWARM_REST_LOG_RETENTION_DAYS < 3:
        return [
            Error(
                "KEEPWARM_REST_LOG_RETENTION_DAYS must be at least 3 (Bitrix24 Marketplace rule).",
                id="keepwarm.E001",
            )
        ]
    return []
