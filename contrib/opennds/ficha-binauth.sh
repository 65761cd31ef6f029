#!/bin/sh
# Ficha's BinAuth script for openNDS (FAS level 1): gives each client the session
# length, rates and quota Ficha's captive portal decided (docs/hotspot.md, "openNDS").
#
# The portal sends them in openNDS's "custom" variable, signed with the FAS key:
#   ficha1.<seconds>.<up kbit/s>.<down kbit/s>.<quota kB>.<sha256hex(hid.fields.faskey)>
# where hid = sha256hex(client token). The phone sees the link but cannot change the
# numbers without the key; a missing or wrong signature refuses the login.
#
# Install: copy to /usr/lib/opennds/ficha-binauth.sh, chmod +x, and set
#   option binauth '/usr/lib/opennds/ficha-binauth.sh'
# The FAS key is read from openNDS's configuration (or set FICHA_FASKEY below).
# When openNDS lets a client on, the script tells Ficha (which bills a portal session
# only once its login is confirmed); when openNDS ends a client's session (log out,
# idle, timeout, quota, shutdown) it posts the client's byte counters, signed the same
# way, so Ficha stops metering it then (needs wget: uclient-fetch on OpenWrt).

FICHA_FASKEY="${FICHA_FASKEY:-}"
# Where Ficha's portal is; empty: http://<fasremoteip>:<fasport> from the configuration.
FICHA_URL="${FICHA_URL:-}"

method="$1"

option() {
	if command -v uci >/dev/null 2>&1; then
		uci -q get "opennds.@opennds[0].$1" && return
	fi
	[ -r /etc/opennds/opennds.conf ] && \
		sed -n "s/^[[:space:]]*$1[[:space:]]\{1,\}//p" /etc/opennds/opennds.conf | head -n 1
}

faskey="$FICHA_FASKEY"
[ -n "$faskey" ] || faskey="$(option faskey)"

sha() { printf '%s' "$1" | sha256sum | cut -d ' ' -f 1; }

# report HID METHOD IN OUT: post a signed event to Ficha in the background (a login
# the router let on, or a session's end with its byte counters).
report() {
	[ -n "$faskey" ] || return 0
	url="$FICHA_URL"
	[ -n "$url" ] || url="http://$(option fasremoteip):$(option fasport)"
	sig="$(sha "$1.$2.$3.$4.$faskey")"
	( wget -q -T 10 -O /dev/null \
		--post-data "hid=$1&method=$2&in=$3&out=$4&sig=$sig" \
		"$url/hotspot/opennds/ended" ) >/dev/null 2>&1 &
}

case "$method" in
client_deauth|idle_deauth|timeout_deauth|downquota_deauth|upquota_deauth|ndsctl_deauth|shutdown_deauth)
	# The session ended on the router: tell Ficha, which stops metering it then.
	# args: mac bytes_incoming bytes_outgoing session_start session_end token
	in="${3:-0}"; out="${4:-0}"
	case "$in$out" in *[!0-9]*) exit 0 ;; esac
	report "$(sha "$7")" "$method" "$in" "$out"
	exit 0
	;;
auth_client) ;;
*) exit 0 ;;   # other calls need no answer
esac

token="$8"
custom="$9"
[ -n "$faskey" ] || exit 1

# openNDS url-escapes the custom string (and newer versions base64-encode it).
case "$custom" in
	ficha1.*) ;;
	*) custom="$(printf '%s' "$custom" | base64 -d 2>/dev/null)" ;;
esac
case "$custom" in
	ficha1.*) ;;
	*) exit 1 ;;
esac

fields="${custom#ficha1.}"
sig="${fields##*.}"
fields="${fields%.*}"
case "$fields" in
	*[!0-9.]*) exit 1 ;;
esac

hid="$(sha "$token")"
want="$(sha "$hid.$fields.$faskey")"
[ "$sig" = "$want" ] || exit 1

# Tell Ficha the router lets this client on: it bills a portal session only once its
# login is confirmed (a phone that never reached this link is not charged).
report "$hid" auth_client 0 0

# seconds uprate downrate upquota downquota (0: no limit); the quota is a total, so the
# router's separate upload and download quotas each get it.
IFS=. read -r seconds up down quota <<EOT
$fields
EOT
echo "$seconds $up $down $quota $quota"
exit 0
