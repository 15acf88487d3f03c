#!/bin/sh
# Monthly segment brief: writes reports/YYYY-MM, compared with the last month before it that has
# a complete run, moves the `latest` pointer only after the run succeeded, then (optionally)
# emails the briefs. A failed run leaves `latest` on the last good brief.
#
#   scripts/monthly.sh DATA [REPORTS_DIR] [extra reportgen brief options...]
#
# DATA is a file or a database URL; with a URL, pass --table NAME or --query "SELECT …" among the
# options (the password from REPORTGEN_DB_PASSWORD or ~/.pgpass, never in the URL: cron mails
# and process lists show command lines):
#
#   scripts/monthly.sh postgresql://reporting@db.internal/crm reports \
#       --query "$(cat sql/customers.sql)" -d customers.yaml
#
# Environment: REPORTGEN (default: reportgen), MONTH (default: this month, YYYY-MM).
# Email, when RECIPIENTS is set (a recipients YAML, see docs/email.md): MAIL_FROM (required),
# SMTP_HOST (default: localhost) and SMTP_OPTS (more `reportgen email` options, e.g.
# "--starttls --smtp-user briefs"; the password from REPORTGEN_SMTP_PASSWORD).
set -eu

data=${1:?usage: monthly.sh DATA [REPORTS_DIR] [brief options...]}
reports=${2:-reports}
[ "$#" -ge 2 ] && shift 2 || shift 1
reportgen=${REPORTGEN:-reportgen}
month=${MONTH:-$(date +%Y-%m)}
out="$reports/$month"

mkdir -p "$reports"
# Compare with the newest earlier month that holds a complete run (a month's folder appears only
# when its run is complete: reportgen publishes it whole). A re-run this month is therefore
# compared with last month again, never with itself.
previous=""
for dir in "$reports"/[0-9][0-9][0-9][0-9]-[0-9][0-9]; do
    name=${dir##*/}
    if [ -e "$dir/model.json" ] && [ "$name" \< "$month" ]; then
        previous=$dir
    fi
done
if [ -n "$previous" ]; then
    set -- --previous "$previous" "$@"
fi
set -- --pdf-archive "$@"  # brief.pdf as PDF/A-3b carrying the month's data: the record kept

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
echo "brief for $month in $out${previous:+, compared with ${previous##*/}}; latest -> $month"

# Email the overview and each segment's brief. The send log in the run folder makes a re-run of
# this script send only what was not delivered yet.
if [ -n "${RECIPIENTS:-}" ]; then
    # SMTP_OPTS is split into words on purpose (several options).
    # shellcheck disable=SC2086
    "$reportgen" email "$out" --recipients "$RECIPIENTS" --from "${MAIL_FROM:?set MAIL_FROM}" \
        --smtp-host "${SMTP_HOST:-localhost}" ${SMTP_OPTS:-} --quiet
    echo "briefs for $month emailed (send log: $out/send-log.jsonl)"
fi
