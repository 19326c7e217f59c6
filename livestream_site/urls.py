"""The root URL conf: every app's API under /api/, every app's other routes, the admin and the health check.

Each app has a `urls.py` with `api_urlpatterns` (mounted here under /api/) and `urlpatterns` (mounted at /).
"""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import urls as accounts_urls
from analytics import urls as analytics_urls
from chat import urls as chat_urls
from payments import urls as payments_urls
from streams import urls as streams_urls
from streams.media import urls as media_urls

from .metrics import metrics_view
from .views import favicon, healthz

APPS = [accounts_urls, streams_urls, media_urls, payments_urls, chat_urls, analytics_urls]

api_patterns = [
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    *(pattern for app in APPS for pattern in app.api_urlpatterns),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    re_path(r"^healthz/?$", healthz, name="healthz"),
    re_path(r"^metrics/?$", metrics_view, name="metrics"),
    path("favicon.ico", favicon, name="favicon"),
    *(pattern for app in APPS for pattern in app.urlpatterns),
]

handler400 = "livestream_site.views.bad_request"
handler404 = "livestream_site.views.not_found"
