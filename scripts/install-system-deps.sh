#!/usr/bin/env bash
# Install the Debian packages reportgen needs: Pango/HarfBuzz for WeasyPrint (libharfbuzz-subset0
# makes font subsetting fast), a sans-serif font, poppler-utils (pdftoppm/pdftotext) to look
# at briefs, and postgresql: the tests start a throw-away PostgreSQL server of their own
# (tests/pg_server.py; reportgen itself only needs a client library, which its ADBC driver
# brings). As root it installs them; otherwise it prints the exact command and fails.
set -euo pipefail
pkgs=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-inter fonts-dejavu-core poppler-utils
  postgresql)
py=${PYTHON:-python3}
if ! "$py" -c "import ensurepip, venv" >/dev/null 2>&1; then
  pkgs+=("python3-venv")
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "reportgen: please install the equivalents of: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "reportgen needs these system packages. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
