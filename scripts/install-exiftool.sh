#!/bin/sh
# Installs exiftool for BACKUP's sidecar test (backup/sidecar_test.go reads
# every field of the XMP sidecars back with it). Quick when it is already
# there; needs root (CI) or sudo otherwise.
set -eu
if command -v exiftool >/dev/null 2>&1; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-exiftool: exiftool is missing and this is not root; run: apt-get install -y libimage-exiftool-perl" >&2
		exit 1
	fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-exiftool: no apt-get here; install exiftool with the system's package manager" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y libimage-exiftool-perl >/dev/null 2>&1 || {
	$SUDO apt-get update >/dev/null
	$SUDO apt-get install -y libimage-exiftool-perl >/dev/null
}
command -v exiftool >/dev/null
