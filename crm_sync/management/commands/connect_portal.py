"""`manage.py connect_portal --sandbox BASE_URL`: install Keepwarm into a sandbox portal.

It plays the portal administrator's part, exactly as on a real portal: register the application
(the vendor area), press "install" (the portal then POSTs the installer form to our install
handler, which verifies the token with the OAuth server, binds events and placements and starts
the first sync), and finish the installation (what BX24.installFinish() does in the browser).
"""

from __future__ import annotations

import ssl

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm_sync.bitrix.registry import requested_scopes
from tenants.models import Portal
from tenants.selectors import portal_credentials_get


class Command(BaseCommand):
    help = "Install Keepwarm into a sandbox portal through the real install flow."

    def add_arguments(self, parser):
        parser.add_argument("--sandbox", required=True, metavar="BASE_URL")
        parser.add_argument("--user-id", type=int, default=1, help="the installing admin")
        parser.add_argument("--ca-bundle", default=settings.BITRIX_CA_BUNDLE or None)
        parser.add_argument(
            "--scope",
            default=None,
            help="comma-separated scopes the portal grants (default: every scope Keepwarm "
            "requests); a shorter list plays a portal installed before a scope was added",
        )

    def handle(
        self,
        *args,
        sandbox: str,
        user_id: int,
        ca_bundle: str | None,
        scope: str | None = None,
        **options,
    ):
        base = sandbox.rstrip("/")
        public = settings.KEEPWARM_PUBLIC_URL.rstrip("/")
        verify = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        with httpx.Client(base_url=base, timeout=120, verify=verify) as http:
            registration = {
                "client_id": settings.BITRIX_CLIENT_ID,
                "client_secret": settings.BITRIX_CLIENT_SECRET,
                "scope": scope or ",".join(requested_scopes()),  # the data-use sheet's list
                "install_url": f"{public}/b24/install/",
                "app_url": f"{public}/b24/app/",
            }
            self._ok(http.post("/sandbox/apps", json=registration), "register the application")
            answer = self._ok(
                http.post(
                    f"/sandbox/apps/{settings.BITRIX_CLIENT_ID}/install", json={"user_id": user_id}
                ),
                "install the application",
            )
            handler_status = int(answer.get("handler_status") or answer.get("status") or 0)
            if handler_status != 200:
                raise CommandError(
                    f"Keepwarm's install handler answered {handler_status}: "
                    f"{str(answer.get('handler_body') or answer)[:500]}"
                )
            member_id = str(answer.get("member_id") or "")
            portal = Portal.objects.filter(member_id=member_id).first()
            if portal is None:
                raise CommandError(f"The install did not create portal {member_id!r}.")
            credentials = portal_credentials_get(portal_id=portal.pk)
            self._ok(
                http.post("/sandbox/install-finish", data={"auth": credentials.access_token}),
                "finish the installation",
            )
        self.stdout.write(member_id)

    @staticmethod
    def _ok(response: httpx.Response, what: str) -> dict:
        if response.status_code >= 400:
            raise CommandError(
                f"Could not {what}: HTTP {response.status_code} {response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError:
            return {}
