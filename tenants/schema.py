"""OpenAPI descriptions of the portal authentication schemes (loaded in TenantsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PortalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.PortalTokenAuthentication"
    name = "PortalToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "signed portal token",
            "description": "A short-lived token bound to one portal (iframe or API).",
        }


class PortalSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.PortalSessionAuthentication"
    name = "ClientAdminSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
