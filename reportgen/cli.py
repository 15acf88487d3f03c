"""The command line: a thin shell over the library.

Each command parses options, builds one config object, calls the library, and maps the library's
error types to a one-line message on stderr and an exit code (2 for bad input, 1 otherwise).
Set REPORTGEN_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from reportgen import fmt
from reportgen.config import DEFAULT_OUT, BriefConfig
from reportgen.errors import ConfigError, ReportgenError

if TYPE_CHECKING:
    from reportgen.deliver.mail import EmailReport, Outcome
    from reportgen.pipeline import BriefResult
    from reportgen.runs.model import SavedModel
    from reportgen.runs.score import Scored
from reportgen.progress import terminal_progress

app = typer.Typer(
    name="reportgen",
    help="Turn a table of customers into a PDF segment brief a marketing manager can act on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")


def _fail(message: str, code: int) -> None:
    typer.echo(f"reportgen: error: {message}", err=True)
    raise typer.Exit(code)


def run_guarded(action: Callable[[], T]) -> T:
    """Call the library; turn its errors into one line and an exit code, never a traceback."""
    import time

    started = time.monotonic()
    try:
        return action()
    except ReportgenError as exc:
        _fail(_in_flags(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail(f"interrupted; {_interrupted_output(started)}", 130)
    except Exception as exc:  # a bug: still one line unless debugging
        if os.environ.get("REPORTGEN_DEBUG"):
            raise
        _fail(f"unexpected {type(exc).__name__}: {exc} (set REPORTGEN_DEBUG=1 for details)", 1)
    raise AssertionError("unreachable")


def _interrupted_output(started: float) -> str:
    """What the output folder holds after an interruption, as the delivery stage finds it on
    disk (the previous run untouched, or the new run complete: never a mix)."""
    files = sys.modules.get("reportgen.deliver.files")  # not imported: nothing was published
    note = files.interruption_note(started) if files is not None else None
    return note or "nothing was written"


def _in_flags(exc: ReportgenError) -> str:
    """The library names its settings (k_max); the command line knows them as flags (--k-max)."""
    message = str(exc)
    setting = exc.setting if isinstance(exc, ConfigError) else None
    if setting and message.startswith(setting):
        return "--" + setting.replace("_", "-") + message[len(setting) :]
    return message


def _pairs(text: str, flag: str) -> tuple[tuple[str, str], ...]:
    """'a=x,b=y' as (("a", "x"), ("b", "y"))."""
    pairs = []
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} takes role=column pairs separated by commas (got {part!r})")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _report(result: BriefResult, quiet: bool) -> None:
    if quiet:
        return
    typer.echo(f"Brief written to {result.pdf_path}")
    for seg, story in zip(result.profiles.segments, result.stories, strict=True):
        typer.echo(
            f"  {story.segment_id}. {story.name:<28} {fmt.percent(seg.share):>6}  ({seg.size:,})"
        )
    rest = result.analysis.rest
    partial = rest.n_partial if rest is not None else 0
    unassigned = rest.n_unassigned if rest is not None else 0
    typer.echo(
        f"{result.prepared.n_kept:,} of {result.prepared.n_read:,} rows segmented on every feature"
        + (f", {partial:,} on the features they have" if partial else "")
        + (f", {unassigned:,} without a segment (reasons in the appendix)" if unassigned else "")
        + f"; every row in assignments.csv; files in {result.config.out_dir}/"
    )
    from reportgen.deliver.files import published_folder

    folder = published_folder(result.config.out_dir)
    if folder is not None:  # OUT is a link to this run's own folder, switched in one step
        typer.echo(f"{result.config.out_dir} -> {folder.parent.name}/{folder.name}")


# The options, one alias each, grouped into panels in `--help` (Typer's rich_help_panel).
INPUT, SEGMENTS, LOGS, OUTPUT, ENGINE = (
    "Input",
    "Segments",
    "Order logs",
    "Output",
    "Where it runs",
)


def _option(*names: str, help: str, panel: str = INPUT) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=panel)


DB_HELP = (
    " Or a database URL (sqlite:///crm.db, postgresql://user@host/db; password from "
    "REPORTGEN_DB_PASSWORD or ~/.pgpass) with --table or --query."
)
# DATA stays text: a database URL as a Path would turn '//' into '/'.
DataArg = Annotated[
    str, typer.Argument(help="Customer table: CSV, TSV, Parquet or Excel." + DB_HELP)
]
DictionaryOpt = Annotated[
    Path | None, _option("--dictionary", "-d", help="Data dictionary (YAML): roles, labels, words.")
]
ColumnsOpt = Annotated[
    str | None, _option("--columns", "-c", help="Comma-separated columns to segment on.")
]
IdColumnOpt = Annotated[
    str | None, _option("--id-column", help="Column that identifies each customer.")
]
NamesOpt = Annotated[
    str | None,
    _option("--names", help="Comma-separated column names for a file without a header row."),
]
SkipRowsOpt = Annotated[
    int | None,
    _option(
        "--skip-rows",
        help="Lines (or sheet rows) above the header to skip, counting from the top "
        "(default: title and note lines are recognised).",
    ),
]
SheetOpt = Annotated[
    str | None,
    _option(
        "--sheet",
        help="Excel: the sheet to read, by name or number from 1 (default: the first "
        "sheet that holds a table).",
    ),
]
TableOpt = Annotated[
    str | None, _option("--table", help="DATA is a database URL: read this table.")
]
QueryOpt = Annotated[
    str | None, _option("--query", help="DATA is a database URL: read this query's rows.")
]
PreviousOpt = Annotated[
    Path | None,
    _option(
        "--previous",
        help="Folder of a previous brief: keep its segment ids and names, and add a "
        "'What changed' page.",
    ),
]

KOpt = Annotated[
    int | None,
    _option("--k", help="Number of segments (default: chosen from the evidence).", panel=SEGMENTS),
]
KMaxOpt = Annotated[
    int, _option("--k-max", help="Largest k considered when choosing k.", panel=SEGMENTS)
]
KMinOpt = Annotated[
    int, _option("--k-min", help="Smallest k considered when choosing k.", panel=SEGMENTS)
]
MinShareOpt = Annotated[
    float,
    _option(
        "--min-share",
        help="Smallest segment allowed when choosing k (share, 0-0.5).",
        panel=SEGMENTS,
    ),
]
ResamplesOpt = Annotated[
    int,
    _option("--resamples", help="Bootstrap re-runs for the stability check.", panel=SEGMENTS),
]
KeepAllOpt = Annotated[
    bool,
    _option(
        "--keep-all-features",
        help="Do not screen out pure-noise features or features that repeat another.",
        panel=SEGMENTS,
    ),
]
SeedOpt = Annotated[
    int,
    _option("--seed", help="Random seed: same data + seed = same brief.", panel=SEGMENTS),
]

InputKindOpt = Annotated[
    str,
    _option(
        "--input-kind",
        help="customers (one row each), transactions (an order log) or auto (detect).",
        panel=LOGS,
    ),
]
AsOfOpt = Annotated[
    str | None,
    _option(
        "--as-of",
        help="Order logs: the analysis date YYYY-MM-DD (default: day after last).",
        panel=LOGS,
    ),
]
DateFormatOpt = Annotated[
    str | None,
    _option("--date-format", help="Order logs: the dates' format, e.g. %d/%m/%Y.", panel=LOGS),
]
CurrencyOpt = Annotated[
    str | None,
    _option(
        "--currency", help="Order logs: the one currency to keep from a mixed log.", panel=LOGS
    ),
]
RolesOpt = Annotated[
    str | None,
    _option(
        "--roles",
        help="Order logs: column roles, e.g. customer=cust_no,date=day,amount=total.",
        panel=LOGS,
    ),
]

OutOpt = Annotated[
    Path, _option("--out", "-o", help="Output folder for the brief and files.", panel=OUTPUT)
]
TitleOpt = Annotated[str | None, _option("--title", help="Title on the brief.", panel=OUTPUT)]
TemplatesOpt = Annotated[
    Path | None,
    _option(
        "--templates", help="Folder of Jinja templates overriding the packaged ones.", panel=OUTPUT
    ),
]
ArchiveOpt = Annotated[
    bool,
    _option(
        "--pdf-archive",
        help="Write brief.pdf as PDF/A-3b carrying assignments.csv, profiles.csv and model.json.",
        panel=OUTPUT,
    ),
]
ThemeOpt = Annotated[
    Path | None,
    _option(
        "--theme",
        help="Brand theme (YAML): logo, colours, font, footer, cover page.",
        panel=OUTPUT,
    ),
]
QuietOpt = Annotated[bool, _option("--quiet", "-q", help="Print nothing but errors.", panel=OUTPUT)]

EngineOpt = Annotated[
    str,
    _option(
        "--engine",
        help="memory (this process) or dask: the rows stay on a Dask cluster (DATA a Parquet "
        "folder or glob, or a CSV glob; docs/scaling.md).",
        panel=ENGINE,
    ),
]
SchedulerOpt = Annotated[
    str | None,
    _option(
        "--scheduler",
        help="With --engine dask: the scheduler's address, e.g. tcp://10.0.0.5:8786 (default: "
        "a local cluster of 2 workers).",
        panel=ENGINE,
    ),
]


@app.command()
def brief(
    data: DataArg,
    dictionary: DictionaryOpt = None,
    columns: ColumnsOpt = None,
    id_column: IdColumnOpt = None,
    names: NamesOpt = None,
    skip_rows: SkipRowsOpt = None,
    sheet: SheetOpt = None,
    table: TableOpt = None,
    query: QueryOpt = None,
    previous: PreviousOpt = None,
    k: KOpt = None,
    k_min: KMinOpt = 2,
    k_max: KMaxOpt = 10,
    min_share: MinShareOpt = 0.05,
    resamples: ResamplesOpt = 20,
    keep_all_features: KeepAllOpt = False,
    seed: SeedOpt = 42,
    input_kind: InputKindOpt = "auto",
    as_of: AsOfOpt = None,
    date_format: DateFormatOpt = None,
    currency: CurrencyOpt = None,
    roles: RolesOpt = None,
    out: OutOpt = DEFAULT_OUT,
    title: TitleOpt = None,
    templates: TemplatesOpt = None,
    pdf_archive: ArchiveOpt = False,
    theme: ThemeOpt = None,
    quiet: QuietOpt = False,
    engine: EngineOpt = "memory",
    scheduler: SchedulerOpt = None,
) -> None:
    """Segment the customers in DATA and write a PDF brief plus CRM files into --out."""
    from reportgen.pipeline import build_brief

    def action() -> BriefResult:
        config = BriefConfig.of(
            data,
            dictionary_path=dictionary,
            columns=tuple(columns.split(",")) if columns is not None else None,
            id_column=id_column,
            k=k,
            k_max=k_max,
            k_min=k_min,
            seed=seed,
            min_share=min_share,
            resamples=resamples,
            screen_features=not keep_all_features,
            title=title,
            out_dir=out,
            quiet=quiet,
            template_dir=templates,
            previous=previous,
            names=tuple(names.split(",")) if names is not None else None,
            input_kind=input_kind,
            as_of=as_of,
            date_format=date_format,
            currency=currency,
            roles=_pairs(roles, "--roles") if roles is not None else None,
            skip_rows=skip_rows,
            sheet=sheet,
            table=table,
            query=query,
            pdf_archive=pdf_archive,
            theme_path=theme,
            engine=engine,
            scheduler=scheduler,
        )
        with terminal_progress(enabled=False if quiet else None) as progress:
            return build_brief(config, progress=progress)

    _report(run_guarded(action), quiet)


@app.command()
def demo(
    out: OutOpt = DEFAULT_OUT,
    seed: SeedOpt = 42,
    k: KOpt = None,
    quiet: QuietOpt = False,
    pdf_archive: ArchiveOpt = False,
    theme: ThemeOpt = None,
) -> None:
    """Write the brief for the bundled example: a synthetic insurance customer survey."""
    from reportgen.pipeline import build_demo

    def action() -> BriefResult:
        with terminal_progress(enabled=False if quiet else None) as progress:
            return build_demo(
                out,
                progress=progress,
                seed=seed,
                k=k,
                quiet=quiet,
                pdf_archive=pdf_archive,
                theme_path=theme,
            )

    _report(run_guarded(action), quiet)


@app.command()
def email(
    run_dir: Annotated[
        Path, typer.Argument(help="Run folder written by `reportgen brief` or `reportgen demo`.")
    ],
    recipients: Annotated[
        Path,
        typer.Option(
            "--recipients", "-r", help="YAML file: overview and segment owners' addresses."
        ),
    ],
    sender: Annotated[str, typer.Option("--from", help="Sender address, e.g. briefs@example.com.")],
    smtp_host: Annotated[str, typer.Option("--smtp-host", help="SMTP server.")] = "localhost",
    smtp_port: Annotated[
        int | None,
        typer.Option(
            "--smtp-port", help="SMTP port (default 25, 587 with --starttls, 465 with --ssl)."
        ),
    ] = None,
    starttls: Annotated[
        bool, typer.Option("--starttls", help="Upgrade to TLS with STARTTLS.")
    ] = False,
    use_ssl: Annotated[
        bool, typer.Option("--ssl", help="Connect with TLS from the start (SMTPS).")
    ] = False,
    smtp_user: Annotated[
        str | None,
        typer.Option(
            "--smtp-user", help="Log in as this user; password from REPORTGEN_SMTP_PASSWORD."
        ),
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option("--subject", help="Subject; {segment}, {title} and {date} are filled in."),
    ] = None,
    cafile: Annotated[
        Path | None,
        typer.Option(
            "--cafile",
            envvar="REPORTGEN_SMTP_CAFILE",
            help="Extra CA certificate (PEM) to trust for the server's TLS certificate.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write .eml files into RUN_DIR/outbox/; send nothing.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Email the overview brief and each segment's brief to their owners (see docs/email.md)."""
    from reportgen.deliver import mail

    def action() -> EmailReport:
        if starttls and use_ssl:
            raise ConfigError("choose one of --starttls and --ssl")
        config = mail.EmailConfig(
            run_dir=run_dir,
            recipients_path=recipients,
            sender=sender,
            smtp_host=smtp_host,
            smtp_port=smtp_port,
            security="ssl" if use_ssl else "starttls" if starttls else "none",
            smtp_user=smtp_user,
            password=os.environ.get(mail.PASSWORD_ENV) or None,
            subject=subject,
            dry_run=dry_run,
            cafile=cafile,
        )
        return mail.email_briefs(config, progress=None if quiet else _print_outcome)

    report = run_guarded(action)
    if not quiet:
        if report.unaddressed:
            typer.echo(f"No recipients for: {', '.join(report.unaddressed)}")
        if report.dry_run:
            typer.echo(
                f"Dry run: {report.count('written')} message(s) written to "
                f"{report.outbox}/, {report.count('skipped')} skipped (already "
                "delivered); nothing sent."
            )
        else:
            typer.echo(
                f"{report.count('sent')} sent, {report.count('skipped')} skipped (already "
                f"delivered), {report.count('failed')} failed. Send log: {report.log_path}"
            )
    if not report.ok:
        if quiet:
            typer.echo(
                f"reportgen: error: {report.count('failed')} message(s) failed; run the "
                "same command again to send only those",
                err=True,
            )
        raise typer.Exit(1)


def _print_outcome(outcome: Outcome) -> None:
    line = f"{outcome.status:<8} {outcome.label} -> {', '.join(outcome.recipients)}"
    if outcome.path is not None:
        line += f"  [{outcome.path.name}]"
    if outcome.detail:
        line += f"  ({outcome.detail})"
    typer.echo(line, err=outcome.status == "failed")


@app.command()
def score(
    data: Annotated[
        str, typer.Argument(help="New customers: CSV, TSV, Parquet or Excel." + DB_HELP)
    ],
    model: Annotated[
        Path, typer.Option("--model", "-m", help="A brief's output folder (or its model.json).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="CSV file to write (default: print the CSV).")
    ] = None,
    quiet: QuietOpt = False,
    skip_rows: SkipRowsOpt = None,
    sheet: SheetOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Order logs: the analysis date YYYY-MM-DD."),
    ] = None,
    table: TableOpt = None,
    query: QueryOpt = None,
    engine: EngineOpt = "memory",
    scheduler: SchedulerOpt = None,
) -> None:
    """Assign each row of DATA to a saved brief's segments, without refitting (a run on an
    order log scores the customers of a new log). With --engine dask the workers write a
    Parquet dataset into the folder --out."""
    from reportgen.deliver.files import csv_bytes, write_outputs
    from reportgen.pipeline import score_data

    if engine != "memory" or scheduler is not None:
        _score_on_dask(data, model, out, engine, scheduler, quiet)
        return

    def action() -> tuple[SavedModel, Scored, bytes]:
        saved, result = score_data(
            data, model, skip_rows=skip_rows, sheet=sheet, as_of=as_of, table=table, query=query
        )
        payload = csv_bytes(result.assignments)
        if out is not None:
            write_outputs(out.parent, {out.name: payload})
        return saved, result, payload

    saved, result, payload = run_guarded(action)
    if out is None:
        sys.stdout.write(payload.decode("utf-8"))
    if not quiet:
        for note in result.notes():
            typer.echo(f"reportgen: note: {note}", err=True)
        typer.echo(
            f"{result.n_scored:,} of {result.n_read:,} rows scored against the {saved.k} segments "
            f"of {saved.date_text}" + (f"; written to {out}" if out is not None else ""),
            err=True,
        )


def _score_on_dask(
    data: str, model: Path, out: Path | None, engine: str, scheduler: str | None, quiet: bool
) -> None:
    def action() -> tuple[int, int, int, Path]:
        if engine != "dask":
            raise ConfigError(
                "--scheduler needs --engine dask"
                if engine == "memory"
                else f"--engine must be memory or dask (got {engine!r})"
            )
        if out is None:
            raise ConfigError("--engine dask writes a Parquet dataset: name its folder with --out")
        from reportgen.pipeline_dask import score_dataset

        return score_dataset(Path(data), model, out, scheduler)

    read, scored, k, written = run_guarded(action)
    if not quiet:
        typer.echo(
            f"{scored:,} of {read:,} rows scored against the {k} segments; written to {written}",
            err=True,
        )


@app.command()
def init(
    data: Annotated[str, typer.Argument(help="Customer table or order log to describe." + DB_HELP)],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Dictionary file to write (default: DATA's name.yaml)."),
    ] = None,
    names: Annotated[
        str | None,
        typer.Option("--names", help="Comma-separated column names for a file without a header."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    skip_rows: SkipRowsOpt = None,
    sheet: SheetOpt = None,
    table: TableOpt = None,
    query: QueryOpt = None,
) -> None:
    """Write a starter data dictionary for DATA: every column with its inferred role, type and
    label, and slots for the words that name segments. Unchanged, it gives the same brief."""
    from reportgen.pipeline import write_starter_dictionary

    listed = tuple(names.split(",")) if names is not None else None

    def action() -> Path:
        return write_starter_dictionary(
            data, out, listed, force, skip_rows=skip_rows, sheet=sheet, table=table, query=query
        )

    path = run_guarded(action)
    typer.echo(
        f"Starter dictionary written to {path}; edit it, then: reportgen brief "
        f"{_shown_source(data, table, query)} --dictionary {path}"
    )


def _shown_source(data: str, table: str | None, query: str | None) -> str:
    """DATA as a command line may repeat it: a database URL without its password."""
    from reportgen.io.database import is_database_url, parse_url

    if not is_database_url(data):
        return data
    picked = f"--table {table}" if table is not None else f'--query "{query}"'
    return f"{parse_url(data).shown} {picked}"


@app.command()
def history(
    reports: Annotated[Path, typer.Argument(help="Folder whose sub-folders are brief runs.")],
) -> None:
    """List past runs in REPORTS (date, input, k, segment sizes and names)."""
    from reportgen.runs.history import history_lines, read_history

    result = run_guarded(lambda: read_history(reports))
    for line in history_lines(result, reports):
        typer.echo(line)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # between commands' own handling: before or after the run
        typer.echo("reportgen: interrupted", err=True)
        gc.freeze()
        sys.exit(130)
    except SystemExit as exc:  # keep exit codes, never a traceback
        # The process ends here. Python's exit would still walk every object the run made
        # (charts, layout trees, the frames' blocks) for cycles: 0.4 s after a 1M-row brief.
        # Nothing is pending (files are written and closed, child processes reaped), so the
        # collector may skip them.
        gc.freeze()
        sys.exit(exc.code)


if __name__ == "__main__":
    main()
