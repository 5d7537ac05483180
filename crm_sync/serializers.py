from rest_framework import serializers

from crm_sync.models import RestCallLog


class RestCallLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = RestCallLog
        fields = ["id", "created_at", "method", "http_status", "error_code", "duration_ms"]
        read_only_fields = fields
