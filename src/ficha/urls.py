from django.urls import include, path
from django.views.i18n import set_language

from ficha.core.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("api/v1/", include("ficha.api.urls")),
    path("console/", include("ficha.console.urls")),
    path("", include("ficha.portal.urls")),
]

handler400 = "ficha.core.views.bad_request"
