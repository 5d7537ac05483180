import django_filters

from config.filters import UtcIsoDateTimeFilter
from crm_sync.models import RestCallLog


class RestCallLogFilter(django_filters.FilterSet):
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    has_error = django_filters.BooleanFilter(method="filter_has_error")

    class Meta:
        model = RestCallLog
        fields = ["method", "error_code", "http_status"]

    def filter_has_error(self, queryset, name, value):
        return queryset.exclude(error_code="") if value else queryset.filter(error_code="")
