from rest_framework import serializers


class RestUsageQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=90, default=7)


class MethodUsageSerializer(serializers.Serializer):
    method = serializers.CharField()
    calls = serializers.IntegerField()
    errors = serializers.IntegerField()


class RestUsageSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total_calls = serializers.IntegerField()
    methods = MethodUsageSerializer(many=True)
