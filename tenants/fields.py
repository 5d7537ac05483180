"""A text field stored encrypted (tenants.crypto); reads give back the plaintext."""

from __future__ import annotations

from django.db import models

from tenants import crypto

_PREFIX = "fernet:"


class EncryptedTextField(models.TextField):
    description = "Text encrypted at rest with the deployment's Fernet keys"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        if not value.startswith(_PREFIX):
            raise crypto.DecryptionFailed(f"{self.name} holds a value that is not encrypted")
        return crypto.decrypt(value[len(_PREFIX) :])

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return _PREFIX + crypto.encrypt(value)
