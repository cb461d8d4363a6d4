#!/bin/sh
# Installs Chromium for the gallery's browser test (serve/browser_test.go).
# Quick when it is already there; needs root (CI) or sudo otherwise.
set -eu
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		exit 0
	fi
done
"$(dirname "$0")/apt-install.sh" install-chromium chromium "install Chromium with the system's package manager"
command -v chromium >/dev/null
