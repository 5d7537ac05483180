import pytest

from tests.sandbox.server import Receiver, SandboxProcess


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    portal = SandboxProcess(tmp_path_factory.mktemp("sandbox")).start()
    yield portal
    portal.stop()


@pytest.fixture
def fresh_sandbox(tmp_path):
    """A sandbox of its own, for tests that change limits, clocks or apps."""
    started: list[SandboxProcess] = []

    def start(**options) -> SandboxProcess:
        portal = SandboxProcess(tmp_path / f"portal{len(started)}", **options).start()
        started.append(portal)
        return portal

    yield start
    for portal in started:
        portal.stop()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def install_app(
    portal: SandboxProcess,
    receiver: Receiver,
    *,
    scope="crm,task,user_brief,department,im,placement",
    client_id="app.test",
    user_id=1,
    finish=True,
) -> dict:
    """Register and install an app the way a portal admin does; returns its tokens."""
    portal.tool(
        "apps",
        {
            "client_id": client_id,
            "client_secret": "secret-1",
            "scope": scope,
            "install_url": f"{receiver.url}/install",
        },
    )
    answer = portal.tool(f"apps/{client_id}/install", {"user_id": user_id})
    form = [r["form"] for r in receiver.received if r["path"].startswith("/install")][-1]
    if finish:
        portal.tool("install-finish", {"auth": form["AUTH_ID"]})
    return {"answer": answer, **form}
