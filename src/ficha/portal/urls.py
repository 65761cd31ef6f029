"""The customer portal, mounted at the site root ("/")."""

from django.urls import path, re_path

from . import hotspot, views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("login", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    # Printed cards' QR codes open /recharge?code=12345678 (a trailing slash is forgiven).
    re_path(r"^recharge/?$", views.recharge, name="recharge"),
    path("credit", views.topup, name="topup"),
    path("password", views.set_password, name="set_password"),
    # Captive portal (hotspot.py): the gateways' login redirects, status, log out.
    path("hotspot/status", hotspot.status, name="hotspot_status"),
    path("hotspot/logout", hotspot.logout, name="hotspot_logout"),
    path("hotspot/opennds/ended", hotspot.opennds_ended, name="hotspot_opennds_ended"),
    path("hotspot/<slug:vendor>", hotspot.gateway_login, name="hotspot_login"),
]
