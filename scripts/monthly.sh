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

# reportgen publishes the run whole ($out becomes a link to .$month.runs/ID, switched in one
# rename; a rerun this month switches it again); a non-zero exit stops here (set -e).
"$reportgen" brief "$data" --out "$out" --quiet "$@"

# Swap the pointer atomically: a new link beside it, named for this process (two scripts never
# share one), renamed over the old one in one rename(2) (mv -T: never "move into the folder
# latest points to"), then the folder synced so the rename survives a power cut. A kill before
# the mv leaves latest as it was; the link it leaves behind is removed by a later run.
find "$reports" -maxdepth 1 -name '.latest.*.tmp' -type l -mmin +60 -exec rm -f {} + 2>/dev/null || true
tmp="$reports/.latest.$$.tmp"
ln -sfn "$month" "$tmp"
mv -T "$tmp" "$reports/latest"
sync "$reports" 2>/dev/null || true
echo "brief for $month in $out; latest -> $month"
