from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Only exposes the `sandbox_portal` management command; the sandbox has no Django models."""

    name = "sandbox"
    label = "sandbox"
    verbose_name = "Bitrix24 sandbox portal"
