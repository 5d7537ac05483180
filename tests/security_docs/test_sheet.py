import pytest


@pytest.mark.parametrize(
    ("lang", "heading"),
    [
        ("ru", "Keepwarm: использование данных и безопасность"),
        ("en", "Keepwarm: data use and security"),
    ],
)
def test_the_security_sheet_is_public_in_both_languages(client, db, lang, heading):
    response = client.get(f"/security/?lang={lang}")

    assert response.status_code == 200
    assert response["Content-Language"] == lang
    assert heading in response.content.decode()


def test_the_security_sheet_states_the_configured_retention(client, db, settings):
    settings.KEEPWARM_REST_LOG_RETENTION_DAYS = 11

    response = client.get("/security/?lang=en")

    assert "kept for 11 days" in " ".join(response.content.decode().split())
