#!/bin/sh
# Installs libjpeg-turbo's development files (jpeglib.h and libjpeg.so),
# which the build links: SYNC HASHES decodes thumbnails with it (package
# dupes). Quick when they are already there; needs root (CI) or sudo.
set -eu
if printf '#include <stdio.h>\n#include <jpeglib.h>\n' | ${CC:-cc} -E - >/dev/null 2>&1; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-libjpeg: jpeglib.h is missing and this is not root; run: apt-get install -y libjpeg-dev (Debian/Ubuntu) or dnf install libjpeg-turbo-devel (Fedora)" >&2
		exit 1
	fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-libjpeg: no apt-get here; install libjpeg-turbo's development package with the system's package manager (Fedora: libjpeg-turbo-devel)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y libjpeg-dev >/dev/null 2>&1 || {
	$SUDO apt-get update >/dev/null
	$SUDO apt-get install -y libjpeg-dev >/dev/null
}
printf '#include <stdio.h>\n#include <jpeglib.h>\n' | ${CC:-cc} -E - >/dev/null
