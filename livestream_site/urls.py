"""URL routes: the REST API under /api/, the admin, the health check and the pages."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import MeView, RegisterView, TokenView
from chat.api import chat_url_patterns
from streams.api import LiveStreamViewSet

from .api import OptionalSlashRouter
from .views import healthz

router = OptionalSlashRouter()
router.register("livestreams", LiveStreamViewSet, basename="livestream")

api_patterns = [
    re_path(r"^auth/register/?$", RegisterView.as_view(), name="auth-register"),
    re_path(r"^auth/token/?$", TokenView.as_view(), name="auth-token"),
    re_path(r"^auth/me/?$", MeView.as_view(), name="auth-me"),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    *chat_url_patterns(),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    re_path(r"^healthz/?$", healthz, name="healthz"),
]
