#!/bin/sh
# Installs exiftool for BACKUP's sidecar test (backup/sidecar_test.go reads
# every field of the XMP sidecars back with it). Quick when it is already
# there; needs root (CI) or sudo otherwise.
set -eu
if command -v exiftool >/dev/null 2>&1; then
	exit 0
fi
"$(dirname "$0")/apt-install.sh" install-exiftool libimage-exiftool-perl "install exiftool with the system's package manager"
command -v exiftool >/dev/null
