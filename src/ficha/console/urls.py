"""Console URLs (mounted at /console/, namespace "console").

Every view here is wrapped in ``access.capability_required`` (or ``access.public``);
tests/test_console.py walks this list and fails on any view that is not.
"""

from django.urls import path

from .views import (
    alerts,
    audit,
    auth,
    customers,
    dashboard,
    hotspot,
    printing,
    recharges,
    settings,
    shifts,
    staff,
    stations,
    tariffs,
    tokens,
)

app_name = "console"
urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("password/", auth.password_view, name="password"),
    path("logout/everywhere/", auth.logout_everywhere_view, name="logout_everywhere"),
    path("alerts/<int:pk>/ack/", dashboard.alert_ack, name="alert_ack"),
    path("alerts/", alerts.alert_list, name="alerts"),
    # hotspot
    path("hotspot/", hotspot.hotspot_page, name="hotspot"),
    path("hotspot/nas/<int:pk>/", hotspot.nas_edit, name="hotspot_nas"),
    path("hotspot/plans/<int:pk>/", hotspot.plan_edit, name="hotspot_plan"),
    path("alerts/ack-all/", alerts.alert_ack_all, name="alerts_ack_all"),
    path("alerts/unlock/", alerts.unlock, name="alerts_unlock"),
    # café tariffs, station groups, time packages
    path("tariffs/", tariffs.tariff_page, name="tariffs"),
    path("tariffs/new/", tariffs.tariff_edit, name="tariff_new"),
    path("tariffs/quote/", tariffs.quote, name="tariff_quote"),
    path("tariffs/<int:pk>/", tariffs.tariff_edit, name="tariff"),
    path("tariffs/<int:pk>/delete/", tariffs.tariff_delete, name="tariff_delete"),
    path("tariffs/groups/new/", tariffs.group_new, name="station_group_new"),
    path("tariffs/groups/<int:pk>/", tariffs.group_edit, name="station_group"),
    path("tariffs/packages/new/", tariffs.package_new, name="package_new"),
    path("tariffs/packages/sell/", tariffs.package_sell, name="package_sell"),
    path("tariffs/packages/<int:pk>/", tariffs.package_edit, name="package"),
    # customers
    path("customers/", customers.customer_list, name="customers"),
    path("customers/new/", customers.customer_new, name="customer_new"),
    path("customers/<int:pk>/", customers.customer_detail, name="customer"),
    path("customers/<int:pk>/edit/", customers.customer_edit, name="customer_edit"),
    path("customers/<int:pk>/status/", customers.customer_status, name="customer_status"),
    path("customers/<int:pk>/unlock/", customers.customer_unlock, name="customer_unlock"),
    path("customers/<int:pk>/login/", customers.customer_credentials,
         name="customer_credentials"),
    path("customers/<int:pk>/deposit/", customers.customer_deposit, name="customer_deposit"),
    path("customers/<int:pk>/refund/", customers.customer_refund, name="customer_refund"),
    path("customers/<int:pk>/adjust/", customers.customer_adjust, name="customer_adjust"),
    path("customers/<int:pk>/redeem/", recharges.customer_redeem, name="customer_redeem"),
    # recharges window
    path("recharges/", recharges.window, name="recharges"),
    path("recharges/generate/", recharges.generate, name="recharge_generate"),
    path("recharges/sell/", recharges.sell, name="recharge_sell"),
    path("recharges/unsell/", recharges.unsell, name="recharge_unsell"),
    path("recharges/delete/", recharges.delete, name="recharge_delete"),
    path("recharges/print/", recharges.print_codes, name="recharge_print"),
    path("recharges/print/page/", printing.print_page, name="recharge_print_page"),
    path("recharges/print/send/", printing.print_send, name="recharge_print_send"),
    path("recharges/export.csv", recharges.export_csv, name="recharge_export"),
    path("recharges/<int:pk>/", recharges.detail, name="recharge"),
    path("recharges/<int:pk>/void/", recharges.void, name="recharge_void"),
    # shifts
    path("shifts/", shifts.shift_list, name="shifts"),
    path("shifts/open/", shifts.shift_open, name="shift_open"),
    path("shifts/close/", shifts.shift_close, name="shift_close"),
    path("shifts/<int:pk>/", shifts.shift_detail, name="shift"),
    path("shifts/<int:pk>/close/", shifts.shift_close, name="shift_close_other"),
    # owner and manager
    path("audit/", audit.audit_list, name="audit"),
    path("staff/", staff.staff_list, name="staff"),
    path("staff/new/", staff.staff_new, name="staff_new"),
    path("staff/<int:pk>/", staff.staff_detail, name="staff_member"),
    path("staff/<int:pk>/role/", staff.staff_role, name="staff_role"),
    path("staff/<int:pk>/status/", staff.staff_status, name="staff_status"),
    path("staff/<int:pk>/password/", staff.staff_password, name="staff_password"),
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", tokens.token_revoke, name="token_revoke"),
    path("settings/", settings.settings_view, name="settings"),
    # café stations
    path("stations/", stations.room_map, name="stations"),
    path("stations/room/", stations.room_fragment, name="stations_room"),
    path("stations/setup/", stations.station_setup, name="station_setup"),
    path("stations/setup/arrange/", stations.station_arrange, name="station_arrange"),
    path("stations/<int:pk>/", stations.station_page, name="station"),
    path("stations/<int:pk>/command/", stations.station_command, name="station_command"),
    path("stations/<int:pk>/pair/", stations.station_pair, name="station_pair"),
    path("stations/<int:pk>/revoke/", stations.station_revoke, name="station_revoke"),
    path("stations/sessions/<int:pk>/", stations.session_bill, name="station_bill"),
    path("stations/sessions/<int:pk>/checkout/", stations.session_checkout,
         name="station_checkout"),
]
