"""One process of the concurrent-refresh test: call the portal once with its stored token.

python -m tests.integration.refresh_probe PORTAL_ID START_AT
"""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from crm_sync.bitrix.client import BitrixClient  # noqa: E402
from tenants.models import Portal  # noqa: E402


def main() -> int:
    portal = Portal.objects.get(pk=int(sys.argv[1]))
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all eight call at the same moment
    with portal:
        answer = BitrixClient.for_portal(portal).call(
            "crm.contact.list", {"select": ["ID"], "start": -1}
        )
    print(f"ok {len(answer.result)}", flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
