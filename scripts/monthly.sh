#!/bin/sh
# Monthly segment brief: writes reports/YYYY-MM, compared with reports/latest, and moves the
# `latest` pointer only after the run succeeded. A failed run leaves `latest` on the last good
# brief, so next month compares with that one.
#
#   scripts/monthly.sh DATA [REPORTS_DIR] [extra reportgen brief options...]
#
# REPORTGEN (default: reportgen) and MONTH (default: this month, YYYY-MM) can be overridden.
set -eu

data=${1:?usage: monthly.sh DATA [REPORTS_DIR] [brief options...]}
reports=${2:-reports}
[ "$#" -ge 2 ] && shift 2 || shift 1
reportgen=${REPORTGEN:-reportgen}
month=${MONTH:-$(date +%Y-%m)}
out="$reports/$month"

mkdir -p "$reports"
# Compare with the last good run, unless that is this month's own folder (a re-run this month).
if [ -e "$reports/latest/model.json" ] && [ "$(readlink "$reports/latest")" != "$month" ]; then
    set -- --previous "$reports/latest" "$@"
fi

# reportgen writes its files atomically; a non-zero exit stops here (set -e).
"$reportgen" brief "$data" --out "$out" --quiet "$@"

# Swap the pointer atomically: make the new link beside it, then rename over the old one.
ln -sfn "$month" "$reports/.latest.tmp"
mv -T "$reports/.latest.tmp" "$reports/latest"
echo "brief for $month in $out; latest -> $month"
