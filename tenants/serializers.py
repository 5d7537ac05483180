from rest_framework import serializers

from tenants.models import Portal


class PortalSerializer(serializers.ModelSerializer):
    class Meta:
        model = Portal
        fields = [
            "member_id",
            "domain",
            "region",
            "plan",
            "install_state",
            "time_zone",
            "language",
            "installed_at",
        ]
        read_only_fields = fields


class PortalTokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
    expires_in = serializers.IntegerField(read_only=True)


class StaffAccessSerializer(serializers.Serializer):
    created_at = serializers.DateTimeField()
    staff_username = serializers.CharField()
    action = serializers.CharField()
    detail = serializers.CharField()
