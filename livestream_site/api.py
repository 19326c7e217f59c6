"""Shared API building blocks: pagination and the routers' trailing-slash policy."""

from rest_framework.pagination import PageNumberPagination
from rest_framework.routers import DefaultRouter


class Pagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100


class OptionalSlashRouter(DefaultRouter):
    """Every route answers with and without a trailing slash, so a POST is never redirected."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"
