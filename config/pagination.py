"""The API's one pagination: limit/offset with a ceiling on the page size.

DRF's LimitOffsetPagination takes any `limit` by default; a huge one reaches PostgreSQL's LIMIT
as a number beyond bigint and fails the request with a 500 (found by schemathesis).
"""

from rest_framework.pagination import LimitOffsetPagination


class KeepwarmPagination(LimitOffsetPagination):
    max_limit = 1000  # the default page size is REST_FRAMEWORK["PAGE_SIZE"]
