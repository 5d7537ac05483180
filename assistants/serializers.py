from rest_framework import serializers


class AssistantSettingsSerializer(serializers.Serializer):
    version = serializers.IntegerField(read_only=True)
    document = serializers.JSONField()


class PreviewQuerySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(required=False)
    limit = serializers.IntegerField(min_value=1, max_value=5000, default=500)


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assistant = serializers.CharField()
    rule = serializers.CharField()
    rule_version = serializers.IntegerField()
    entity_type_id = serializers.IntegerField()
    client_id = serializers.IntegerField()
    owner_id = serializers.IntegerField(allow_null=True)
    action = serializers.CharField()
    params = serializers.JSONField()
    facts = serializers.JSONField()
    status = serializers.CharField()
    reason = serializers.CharField()
    result = serializers.JSONField()
    created_at = serializers.DateTimeField()
    executed_at = serializers.DateTimeField(allow_null=True)


class PlannedDecisionSerializer(serializers.Serializer):
    assistant = serializers.CharField()
    rule = serializers.CharField()
    action = serializers.CharField()
    entity_type_id = serializers.IntegerField()
    client_id = serializers.IntegerField()
    owner_id = serializers.IntegerField(allow_null=True)
    params = serializers.JSONField()
    facts = serializers.JSONField()
    status = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    clients = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    planned = PlannedDecisionSerializer(many=True)


class LadderReindexSerializer(serializers.Serializer):
    taken_in = serializers.IntegerField(help_text="clients whose status was taken in anew")
    cleared = serializers.IntegerField(help_text="clients whose status was cleared (Empty)")
    skipped = serializers.IntegerField(help_text="queued ladder decisions no longer wanted")


class ClientEventSerializer(serializers.Serializer):
    created_at = serializers.DateTimeField()
    kind = serializers.CharField()
    detail = serializers.JSONField()
    reason = serializers.CharField()
    decision_id = serializers.IntegerField(allow_null=True)


class ClientHistorySerializer(serializers.Serializer):
    entity_type_id = serializers.IntegerField()
    client_id = serializers.IntegerField()
    status = serializers.CharField(allow_null=True)
    status_since = serializers.DateTimeField(allow_null=True)
    events = ClientEventSerializer(many=True)
    decisions = DecisionSerializer(many=True)


class SnoozeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    entity_type_id = serializers.ChoiceField(choices=[2, 3, 4])
    client_id = serializers.IntegerField(min_value=1)
    until = serializers.DateField()
    reason = serializers.CharField(max_length=500)


class AbsenceSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    user_id = serializers.IntegerField(min_value=1)
    starts_on = serializers.DateField()
    ends_on = serializers.DateField()
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
