from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path

from dashboard import lr_range, views

urlpatterns = [
    path("", views.sweep_list, name="sweep-list"),
    path("sweeps/new/", views.sweep_new, name="sweep-new"),
    path("sweeps/<int:pk>/", views.sweep_detail, name="sweep-detail"),
    path("sweeps/<int:pk>/trials/<int:number>/", views.trial_detail, name="trial-detail"),
    path("workers/", views.worker_list, name="worker-list"),
    path("lr-range-tests/", lr_range.range_test_list, name="lr-range-list"),
    path("lr-range-tests/<int:pk>/", lr_range.range_test_detail, name="lr-range-detail"),
    path("vendor/plotly-<str:digest>.min.js", views.plotly_js, name="plotly-js"),
    path("health/", views.health, name="health"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # daphne serves no static files itself; Rungs is self-contained, so Django does (from the
    # finders, with caching headers from the view; put a CDN or nginx in front if you like).
    re_path(r"^static/(?P<path>.*)$", login_not_required(serve_static), {"insecure": True}),
    path("api/", include("sweeps.api.urls")),
]
