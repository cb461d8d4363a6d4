#!/bin/sh
# apt-install.sh WHO PACKAGE OTHERWISE: installs the Debian/Ubuntu PACKAGE
# with apt-get, as root or through sudo, updating the package lists once if
# the first try fails. WHO names the calling script in errors; OTHERWISE
# says what to do on a system without apt-get. The install-*.sh scripts
# call it once they found what they need missing.
set -eu
who=$1 pkg=$2 otherwise=$3
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "$who: $pkg is needed and this is not root; run: apt-get install -y $pkg" >&2
		exit 1
	fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "$who: no apt-get here; $otherwise" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y "$pkg" >/dev/null 2>&1 || {
	$SUDO apt-get update >/dev/null
	$SUDO apt-get install -y "$pkg" >/dev/null
}
