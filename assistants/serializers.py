from rest_framework import serializers


class AssistantSettingsSerializer(serializers.Serializer):
    version = serializers.IntegerField(read_only=True)
    document = serializers.JSONField()
