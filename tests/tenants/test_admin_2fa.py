from django.contrib.auth import get_user_model
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken


def _vendor():
    return get_user_model().objects.create_superuser(username="vendor", password="s3cret-pass-123")


def test_a_password_alone_does_not_open_the_back_office(client, db):
    _vendor()
    client.login(username="vendor", password="s3cret-pass-123")

    response = client.get("/admin/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_password_plus_one_time_token_opens_it_once(client, db):
    user = _vendor()
    device = StaticDevice.objects.create(user=user, name="backup")
    StaticToken.objects.create(device=device, token="kw123456")

    login = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "vendor",
            "password": "s3cret-pass-123",
            "otp_device": device.persistent_id,
            "otp_token": "kw123456",
        },
    )
    assert login.status_code == 302
    assert client.get("/admin/").status_code == 200

    client.logout()
    reused = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "vendor",
            "password": "s3cret-pass-123",
            "otp_device": device.persistent_id,
            "otp_token": "kw123456",
        },
    )
    assert reused.status_code == 200  # the form again: a static token works only once
    assert client.get("/admin/").status_code == 302


def test_the_login_page_asks_for_the_second_factor(client, db):
    page = client.get("/admin/login/")

    assert page.status_code == 200
    assert b'name="otp_token"' in page.content
