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

FICHA_FASKEY="${FICHA_FASKEY:-}"

method="$1"
[ "$method" = "auth_client" ] || exit 0   # other calls (deauth, ...) need no answer

token="$8"
custom="$9"

faskey="$FICHA_FASKEY"
if [ -z "$faskey" ] && command -v uci >/dev/null 2>&1; then
	faskey="$(uci -q get opennds.@opennds[0].faskey)"
fi
if [ -z "$faskey" ] && [ -r /etc/opennds/opennds.conf ]; then
	faskey="$(sed -n 's/^[[:space:]]*faskey[[:space:]]\{1,\}//p' /etc/opennds/opennds.conf | head -n 1)"
fi
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

hid="$(printf '%s' "$token" | sha256sum | cut -d ' ' -f 1)"
want="$(printf '%s' "$hid.$fields.$faskey" | sha256sum | cut -d ' ' -f 1)"
[ "$sig" = "$want" ] || exit 1

# seconds uprate downrate upquota downquota (0: no limit); the quota is a total, so the
# router's separate upload and download quotas each get it.
IFS=. read -r seconds up down quota <<EOT
$fields
EOT
echo "$seconds $up $down $quota $quota"
exit 0
