#!/bin/sh
# Installs libjpeg-turbo's development files (jpeglib.h and libjpeg.so),
# which the build links: SYNC HASHES decodes thumbnails with it (package
# dupes). Quick when they are already there; needs root (CI) or sudo.
set -eu
has() { printf '#include <stdio.h>\n#include <jpeglib.h>\n' | ${CC:-cc} -E - >/dev/null 2>&1; }
if has; then
	exit 0
fi
"$(dirname "$0")/apt-install.sh" install-libjpeg libjpeg-dev "install libjpeg-turbo's development package with the system's package manager (Fedora: dnf install libjpeg-turbo-devel)"
has || { echo "install-libjpeg: libjpeg-dev is installed but the compiler finds no jpeglib.h" >&2; exit 1; }
