#!/usr/bin/env bash
# Installs the system packages the book and the tests use, when they are missing:
#   chromium               headless browser for checking the rendered book
#   dataset-fashion-mnist  offline copy of Fashion-MNIST (machines without internet)
# Needs root and apt-get; elsewhere it only says what is missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "system_deps: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "system_deps: not installing ${missing[*]} (needs root and apt-get);" \
         "the browser check is skipped without chromium and data is downloaded instead" >&2
fi
