#!/usr/bin/env bash
# Installs the system packages the book and the tests use, when they are missing:
#   chromium               headless browser for checking the rendered book
#   dataset-fashion-mnist  offline copy of Fashion-MNIST (machines without internet)
# and, where the distribution has it (optional: its test skips without it),
#   libtcmalloc-minimal4   the C allocator recommended above 8 qubits, by LD_PRELOAD (Ubuntu 24.04: ...4t64)
# Needs root and apt-get; elsewhere it only says what is missing.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
/sbin/ldconfig -p 2>/dev/null | grep -q libtcmalloc_minimal.so.4 && tcmalloc=() || tcmalloc=(libtcmalloc-minimal4 libtcmalloc-minimal4t64)
[ ${#missing[@]} -eq 0 ] && [ ${#tcmalloc[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    optional=""; [ ${#tcmalloc[@]} -eq 0 ] || optional="tcmalloc (optional)"
    echo "system_deps: installing" "${missing[@]}" $optional
    apt-get update -qq
    [ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    for package in "${tcmalloc[@]}"; do  # the name differs between releases
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null 2>&1 && break
    done
else
    echo "system_deps: not installing ${missing[*]} (needs root and apt-get);" \
         "the browser check is skipped without chromium and data is downloaded instead" >&2
fi
