from rest_framework import serializers

from crm_sync.models import RestCallLog


class RestCallLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = RestCallLog
        fields = ["id", "created_at", "method", "http_status", "error_code", "duration_ms"]
        read_only_fields = fields


class SyncRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    records_done = serializers.IntegerField()
    records_total = serializers.IntegerField(allow_null=True)
    requests = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class EntityProgressSerializer(serializers.Serializer):
    entity = serializers.CharField()
    records = serializers.IntegerField()
    full_done = serializers.BooleanField()
    records_done = serializers.IntegerField()
    records_total = serializers.IntegerField(allow_null=True)
    swept_until = serializers.DateTimeField(allow_null=True)
    details_left = serializers.IntegerField(allow_null=True)
    comments_left = serializers.IntegerField(allow_null=True)


class SyncStatusSerializer(serializers.Serializer):
    summary = serializers.CharField()
    running = SyncRunSerializer(allow_null=True)
    last_finished = SyncRunSerializer(allow_null=True)
    eta_seconds = serializers.FloatField(allow_null=True)
    entities = EntityProgressSerializer(many=True)
