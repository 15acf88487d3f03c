"""Rows from a database: an SQLite file or a PostgreSQL server, read-only, through ADBC.

`DatabaseSource` reads one table (`--table`) or the result of one query (`--query`) given an
SQLAlchemy-style URL (`sqlite:///crm.db`, `postgresql://user@host:port/db`). The rows arrive as
Arrow record batches (ADBC: the fastest reader measured, see benchmarks/README.md, and one whose
peak memory is the Arrow data plus one column being converted), are hashed as they arrive, and
then go through the same typing as a CSV file's text (io.load): text of numbers becomes
numbers, dates become the ISO text a CSV export holds. So a table read from the database gives
the same brief as its CSV export, and an order log is recognised exactly as its export would be.

Credentials: the password comes from REPORTGEN_DB_PASSWORD or the driver's own ways (PGPASSWORD,
~/.pgpass). One written in the URL works but is never shown: every name, note and error message
uses `DatabaseUrl.shown`, the URL without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from reportgen.errors import ConfigError, InputError
from reportgen.io.load import (
    MAX_COLUMNS,
    NA_VALUES,
    LoadedTable,
    checked_values,
    clean_header,
    comma_numbers,
    same_names,
    typed_column,
)

PASSWORD_ENV = "REPORTGEN_DB_PASSWORD"
_URL = re.compile(r"^(sqlite|postgres|postgresql)(\+[a-z0-9_]+)?://", re.IGNORECASE)
# Query parameters never shown (libpq accepts a password as one).
_SECRET_PARAMS = {"password", "sslpassword"}
CONNECT_TIMEOUT_S = 15  # an unreachable host is an error after this, not a hang
SQLITE_BATCH_ROWS = 1 << 16
SQLITE_HEADER = b"SQLite format 3\x00"
_warned: set[str] = set()  # URLs already warned about (once per process)


def is_database_url(location: object) -> bool:
    """A location written as a database URL, not a file name."""
    return isinstance(location, str) and bool(_URL.match(location.strip()))


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed URL: what to connect to, and how to name it without its password."""

    dialect: str  # "sqlite" or "postgresql"
    shown: str  # the URL as every output shows it: without a password
    database: str  # the database's name (the file's name for SQLite)
    connect: str = field(repr=False)  # what the driver gets (may hold the password)
    password: str | None = field(default=None, repr=False)
    timeout_s: str = str(CONNECT_TIMEOUT_S)  # libpq's connect_timeout, said when it expires


def parse_url(url: str) -> DatabaseUrl:
    """Parse a URL; raises ConfigError when it is not one reportgen can read."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        # Never the parser's own message: a raw '@' or '/' in a password moves the rest of it
        # into the port, and SQLAlchemy's ValueError quotes the port ("invalid literal …").
        raise ConfigError(_unreadable_url(url)) from None
    backend = parsed.get_backend_name().lower()
    if backend == "sqlite":
        return _sqlite_url(parsed)
    if backend in ("postgresql", "postgres"):
        if "@" in (parsed.host or "") + (parsed.database or ""):
            raise ConfigError(_unreadable_url(url))  # 'user:p@ss@host': SQLAlchemy cut at 'p'
        return _postgresql_url(parsed)
    raise ConfigError(f"unsupported database '{backend}': use sqlite:/// or postgresql:// URLs")


def _without_secrets(url: str) -> str:
    """A URL that could not be parsed, with everything from the ':' after its user name to its
    last '@' hidden: more than the password when a query holds an '@', never less."""
    return re.sub(r"(://[^:/@?#]*):.*@", r"\1@", url.strip(), flags=re.DOTALL)


def _unreadable_url(url: str) -> str:
    shown = _without_secrets(url)
    if shown != url.strip():  # it had a password
        return (
            f"cannot read the database URL {shown}: a password holding '@', ':' or '/' must be "
            f"written percent-encoded (%40, %3A, %2F), or better left out of the URL and set in "
            f"{PASSWORD_ENV}"
        )
    return (
        f"cannot read the database URL {shown}: write it as postgresql://user@host:5432/database "
        "(the port a number; '@', ':' or '/' inside a name percent-encoded)"
    )


def _sqlite_url(parsed: Any) -> DatabaseUrl:
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise ConfigError(
            "an SQLite URL names a database file: sqlite:///relative/crm.db or "
            "sqlite:////absolute/crm.db"
        )
    path = Path(name).expanduser().absolute()
    shown = parsed._replace(password=None).render_as_string(hide_password=False)
    connect = f"file:{quote(str(path))}?mode=ro"  # read-only: SQLite refuses every write
    return DatabaseUrl("sqlite", shown, path.name, connect)


def _postgresql_url(parsed: Any) -> DatabaseUrl:
    query = {k: _param(parsed.query, k) for k in parsed.query}
    shown_query = {k: v for k, v in query.items() if k.lower() not in _SECRET_PARAMS}
    # URL.set(password=None) keeps the password: None there means "unchanged".
    shown = parsed._replace(password=None, query=shown_query).render_as_string(hide_password=False)
    password = parsed.password or query.pop("password", None)
    if password:
        _warn_once(shown)
    else:
        password = os.environ.get(PASSWORD_ENV) or None  # else libpq: PGPASSWORD, ~/.pgpass
    # Every transaction read-only: the server refuses a write even if a query asks for one.
    options = query.get("options")
    query["options"] = " ".join(filter(None, [options, "-c default_transaction_read_only=on"]))
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    timeout = query["connect_timeout"] or str(CONNECT_TIMEOUT_S)
    query.setdefault("application_name", "reportgen")
    return DatabaseUrl(
        "postgresql",
        shown,
        parsed.database or parsed.username or "postgres",
        _libpq_uri(parsed, password, query),
        password,
        timeout,
    )


def _libpq_uri(parsed: Any, password: str | None, query: dict[str, str | None]) -> str:
    """The URI libpq reads (SQLAlchemy writes spaces as '+', which libpq keeps as '+')."""
    auth = quote(parsed.username or "", safe="")
    if password:
        auth += ":" + quote(password, safe="")
    host = parsed.host or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    port = f":{parsed.port}" if parsed.port else ""
    params = "&".join(f"{quote(k, safe='')}={quote(v or '', safe='')}" for k, v in query.items())
    at = "@" if auth else ""
    return f"postgresql://{auth}{at}{host}{port}/{quote(parsed.database or '', safe='')}?{params}"


def _param(query: Any, key: str) -> str | None:
    value = query.get(key)
    if isinstance(value, tuple):
        value = value[-1] if value else None
    return None if value is None else str(value)


def _warn_once(shown: str) -> None:
    if shown in _warned:
        return
    _warned.add(shown)
    sys.stderr.write(
        f"reportgen: warning: the password for {shown} is written in its URL, where shell "
        f"history and process lists see it: set {PASSWORD_ENV} (or use ~/.pgpass) instead\n"
    )


@dataclass(frozen=True)
class DatabaseTable(LoadedTable):
    """A LoadedTable read from a database: where from, without credentials."""

    url: str = ""  # DatabaseUrl.shown
    table_name: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class DatabaseSource:
    """The rows of one table, or of one query, in a database."""

    url: str = field(repr=False)  # as given: may hold a password
    table: str | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise ConfigError(
                f'reading from {self.parsed.shown} needs --table NAME or --query "SELECT …" '
                "(one of them)",
                "table",
            )
        if self.table is not None and not self.table.strip():
            raise ConfigError("table must name a table", "table")
        if self.query is not None and not self.query.strip():
            raise ConfigError("query is empty", "query")

    @property
    def parsed(self) -> DatabaseUrl:
        return parse_url(self.url)

    @property
    def name(self) -> str:
        """The table's name, or the database's for a query (the brief's title uses it)."""
        return self.table.strip() if self.table is not None else self.parsed.database

    def read(self) -> DatabaseTable:
        url = self.parsed
        with _connect(url) as connection:
            sql, what = self._sql(connection, url)
            rows = _fetch(connection, sql, what, url)
        return _loaded(rows, self, url, what)

    def _sql(self, connection: Any, url: DatabaseUrl) -> tuple[str, str]:
        if self.query is not None:
            return checked_query(self.query, url), "the query"
        schema, name = _resolve_table(connection, self.table or "", url)
        source = f"{quote_identifier(schema)}.{quote_identifier(name)}" if schema else None
        return f"SELECT * FROM {source or quote_identifier(name)}", f"table {name}"


# ----------------------------------------------------------------------------- connecting


class _Connection:
    """An ADBC connection, closed on exit; errors on connecting become one line."""

    def __init__(self, url: DatabaseUrl) -> None:
        self.url = url
        self.handle: Any = None

    def __enter__(self) -> Any:
        url = self.url
        try:
            if url.dialect == "sqlite":
                import adbc_driver_sqlite.dbapi as sqlite

                self.handle = sqlite.connect(url.connect)
            else:
                import adbc_driver_postgresql.dbapi as postgresql

                self.handle = postgresql.connect(url.connect)
        except Exception as exc:  # the drivers raise their own error types
            message = driver_message(exc, url)
            if "timeout expired" in message:  # say how long was waited and how to change it
                message += f" (no answer in {url.timeout_s} s; ?connect_timeout=N sets the wait)"
            raise InputError(f"cannot connect to {url.shown}: {message}") from None
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            # Nothing was written: end the read-only transaction (best effort after an error).
            with contextlib.suppress(Exception):
                self.handle.rollback()
            self.handle.close()


def _connect(url: DatabaseUrl) -> _Connection:
    if url.dialect == "sqlite":
        _check_sqlite_file(Path(_unquoted(url.connect)), url)
    return _Connection(url)


def _unquoted(connect: str) -> str:
    from urllib.parse import unquote

    return unquote(connect.removeprefix("file:").split("?mode=ro")[0])


def _check_sqlite_file(path: Path, url: DatabaseUrl) -> None:
    """SQLite would open a missing or foreign file and fail later with a vaguer message."""
    if not path.exists():
        raise InputError(f"database file not found: {path} (from {url.shown})")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an SQLite database file")
    try:
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise InputError(f"cannot open {path}: {exc.strerror}") from None
    if header != SQLITE_HEADER:
        raise InputError(f"{path.name} is not an SQLite database (from {url.shown})")


def driver_message(exc: BaseException, url: DatabaseUrl) -> str:
    """The driver's message as one line: its own prefixes and the echoed query left out, the
    password (should a driver echo it) replaced."""
    text = str(exc)
    if url.password:
        text = text.replace(url.password, "***")
        text = text.replace(quote(url.password, safe=""), "***")
    text = re.sub(r"^[A-Z_]+: ", "", text.strip())
    text = re.sub(r"\[(libpq|SQLite)\] ", "", text)
    text = re.split(r"\n\s*(?:LINE \d+:|Query was:|query:)|\s+query was: ", text, flags=re.I)[0]
    for prefix in ("Failed to connect: ", "Failed to prepare query: ", "Failed to step query: "):
        text = text.replace(prefix, "")
    text = re.sub(r"^failed to (?:execute|prepare): ", "", text.strip())
    text = re.sub(r"Failed to execute query '.*?': ", "", text, flags=re.DOTALL)
    text = re.sub(r"\b(ERROR|FATAL):\s+", "", text)
    text = re.sub(r"\.?\s*SQLSTATE: \w+$", "", text.strip())
    # libpq repeats the same failure per attempt (with and without SSL, per address): once.
    attempts = [" ".join(a.split()) for a in re.split(r"(?=connection to server at )", text)]
    return " ".join(dict.fromkeys(a for a in attempts if a)) or type(exc).__name__


# ----------------------------------------------------------------------------- the query

# A query reads: it starts with one of these. The connection is read-only too, but some
# statements write outside the database even so: SQLite's ATTACH creates a file, a PostgreSQL
# superuser's COPY … TO writes one on the server.
_READING = {"select", "with", "values", "table"}
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.DOTALL)


def checked_query(query: str, url: DatabaseUrl) -> str:
    """The query as it is sent (without a trailing ';'); InputError unless it is one statement
    that reads."""
    sql = query.strip().rstrip(";").rstrip()
    start = _LEADING.match(sql)
    word = re.match(r"[A-Za-z_]*", sql[start.end() if start else 0 :])  # 'SELECT*FROM t' too
    first = word.group().lower() if word else ""
    if first not in _READING:
        raise InputError(
            f"--query takes one SELECT (or WITH … SELECT) that reads the rows, not "
            f"'{first[:20].upper() or sql[:20]}'"
        )
    if url.dialect == "sqlite" and _more_than_one(sql):
        # SQLite's driver runs the first statement and drops the rest without a word.
        raise InputError("--query holds more than one statement: give one SELECT")
    return sql


def _more_than_one(sql: str) -> bool:
    """A complete statement ends before the text does (sqlite3 knows SQLite's quoting)."""
    import sqlite3

    for end in (i for i, c in enumerate(sql) if c == ";"):
        if sqlite3.complete_statement(sql[: end + 1]):
            rest = re.sub(r"--[^\n]*|/\*.*?\*/", "", sql[end + 1 :], flags=re.DOTALL)
            return bool(rest.strip(" \t\r\n;"))
    return False


# ----------------------------------------------------------------------------- the table's name


def quote_identifier(name: str) -> str:
    """A name as an SQL identifier: in double quotes, inner quotes doubled. Whatever the name
    holds, it stays one identifier: it cannot end the quote or add SQL."""
    if "\x00" in name:
        raise InputError("a table name cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


def _tables(connection: Any, url: DatabaseUrl) -> list[tuple[str, str]]:
    """(schema, table) of every table and view the connection can see, system schemas aside."""
    objects = connection.adbc_get_objects(depth="tables").read_all().to_pylist()
    found = []
    for catalog in objects:
        for schema in catalog["catalog_db_schemas"] or []:
            schema_name = schema["db_schema_name"] or ""
            if url.dialect == "sqlite":  # SQLite's schema is the catalog: 'main.customers'
                schema_name = catalog["catalog_name"] or ""
            if schema_name in ("pg_catalog", "information_schema") or schema_name.startswith(
                "pg_toast"
            ):
                continue
            for table in schema["db_schema_tables"] or []:
                found.append((schema_name, table["table_name"]))
    return found


def _resolve_table(connection: Any, given: str, url: DatabaseUrl) -> tuple[str, str]:
    """The (schema, table) `--table` names: 'customers' or 'schema.customers', matched against
    the tables that exist (exactly, else ignoring case), never pasted into SQL as written."""
    wanted = given.strip()
    try:
        tables = _tables(connection, url)
    except Exception as exc:  # the drivers raise their own error types
        raise InputError(
            f"cannot list the tables of {url.shown}: {driver_message(exc, url)}"
        ) from None
    schema, _, name = wanted.rpartition(".") if "." in wanted else ("", "", wanted)
    for fold in (str, str.casefold):
        hits = [
            (s, t)
            for s, t in tables
            if fold(t) == fold(name) and (not schema or fold(s) == fold(schema))
        ]
        if len(hits) > 1:
            preferred = [h for h in hits if h[0] in ("public", "main", "")]
            hits = preferred if len(preferred) == 1 else hits
        if len(hits) == 1:
            return hits[0]
        if hits:
            listed = ", ".join(f"{s}.{t}" for s, t in hits)
            raise InputError(f"table {wanted} is in several schemas ({listed}): name one of them")
    dotted = [(s, t) for s, t in tables if t == wanted]  # a table whose name has a dot in it
    if "." in wanted and len(dotted) == 1:
        return dotted[0]
    names = sorted({t if s in ("public", "main", "") else f"{s}.{t}" for s, t in tables})
    shown = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
    raise InputError(
        f"no table {wanted} in {url.shown}: "
        + (f"its tables are {shown}" if names else "it has no tables this user can see")
    )


# ----------------------------------------------------------------------------- reading


@dataclass
class _Rows:
    """What a query returned: its columns as Arrow chunks and the hash of its rows."""

    columns: dict[str, Any]  # name -> pyarrow.ChunkedArray
    n_rows: int
    sha256: str


def _fetch(connection: Any, sql: str, what: str, url: DatabaseUrl) -> _Rows:
    try:
        try:
            return _fetch_batches(connection, sql, url, one_batch=False)
        except _TypeMismatch:
            # SQLite columns have no fixed type: ADBC types each column from its first batch
            # and fails when a later row differs ('x-1' after 65,536 whole numbers). Read again
            # as one batch, typed from all its rows.
            connection.rollback()
            return _fetch_batches(connection, sql, url, one_batch=True)
    except InputError:
        raise
    except Exception as exc:  # the drivers raise their own error types
        raise InputError(f"{what} failed in {url.shown}: {driver_message(exc, url)}") from None


class _TypeMismatch(Exception):
    pass


def _fetch_batches(connection: Any, sql: str, url: DatabaseUrl, *, one_batch: bool) -> _Rows:
    import pyarrow as pa

    cursor = connection.cursor()
    try:
        if url.dialect == "sqlite":
            # 64Ki rows a batch (ADBC's default is 1,024: a thousand batches per million rows).
            rows = str(1 << 30) if one_batch else str(SQLITE_BATCH_ROWS)
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": rows})
        cursor.execute(sql)
        reader = cursor.fetch_record_batch()
        schema = reader.schema
        _check_schema(schema, url)
        hasher = RowsHash(schema.names)
        chunks: list[list[Any]] = [[] for _ in schema.names]
        n_rows = 0
        try:
            for batch in reader:
                hasher.update(batch)
                n_rows += batch.num_rows
                # A batch imported from the driver is freed only as a whole, when none of its
                # columns is referenced any more: copied column by column into Arrow's own pool,
                # each column can be freed once converted, and the driver's batch right now.
                for kept, column in zip(chunks, batch.columns, strict=True):
                    kept.append(pa.concat_arrays([column]))
                del batch
        except OSError as exc:
            if url.dialect == "sqlite" and "Type mismatch" in str(exc) and not one_batch:
                raise _TypeMismatch() from exc
            raise
        columns = {
            f.name: pa.chunked_array(kept, type=f.type)
            for f, kept in zip(schema, chunks, strict=True)
        }
        return _Rows(columns, n_rows, hasher.hexdigest())
    finally:
        cursor.close()


# Arrow types the typing below can read; anything else (binary, lists, structs, intervals) is
# refused by name before a row is read.
def _usable(t: Any) -> bool:
    import pyarrow as pa

    if isinstance(t, pa.BaseExtensionType):
        return t.extension_name in ("arrow.uuid", "arrow.json", "arrow.opaque") and (
            t.extension_name != "arrow.opaque" or pa.types.is_string(t.storage_type)
        )
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_temporal(t)
        and not pa.types.is_duration(t)
        and not pa.types.is_interval(t)
        or pa.types.is_null(t)
    )


def _type_name(f: Any) -> str:
    meta = f.metadata or {}
    for key in (b"POSTGRESQL:type", b"ADBC:postgresql:typname"):
        if key in meta:
            return str(meta[key].decode())
    return str(f.type)


def _check_schema(schema: Any, url: DatabaseUrl) -> None:
    if len(schema) > MAX_COLUMNS:
        raise InputError(
            f"the rows from {url.shown} have {len(schema):,} columns: at most {MAX_COLUMNS:,} "
            "are read (select the columns you need with --query)"
        )
    same = same_names(list(schema.names))
    if same:
        raise InputError(f"the rows from {url.shown} have {same} (name them apart with AS)")
    for f in schema:
        if _type_name(f) == "money":
            # The driver hands money over as whole cents (an int64): read as it comes, $12.50
            # would be 1250. How many digits are cents depends on the server's lc_monetary.
            raise InputError(
                f"column '{f.name}' holds money values, which arrive as whole cents: cast them "
                f'in --query ("{f.name}"::numeric)'
            )
        if not _usable(f.type):
            raise InputError(
                f"column '{f.name}' holds {_type_name(f)} values, which reportgen cannot use: "
                "leave it out (select the columns you need with --query) or cast it to text "
                "or a number"
            )


class RowsHash:
    """SHA-256 of the rows read, the same however the driver cuts them into batches: per column,
    one digest of the null marks, one of the values (fixed-width numbers, dates and times as
    their bytes with nulls as zero; text as its lengths and its bytes, in two more digests).
    Re-reporting compares it to tell whether the data changed."""

    STREAMS = 3  # nulls, values (or text lengths), text bytes

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.types: list[str] = []
        self.digests = [[hashlib.sha256() for _ in range(self.STREAMS)] for _ in names]

    def update(self, batch: Any) -> None:
        if not self.types:
            self.types = [str(t) for t in batch.schema.types]
        for digests, column in zip(self.digests, batch.columns, strict=True):
            for stream, data in _canonical(column):
                digests[stream].update(data)

    def hexdigest(self) -> str:
        total = hashlib.sha256()
        kinds = self.types or [""] * len(self.names)
        for name, kind, digests in zip(self.names, kinds, self.digests, strict=True):
            total.update(f"{name}\x00{kind}\x00".encode())
            for digest in digests:
                total.update(digest.digest())
        return total.hexdigest()


def _canonical(column: Any) -> Iterator[tuple[int, bytes | memoryview]]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column.type, pa.BaseExtensionType):
        column = column.storage
    t = column.type
    yield 0, np.asarray(column.is_null().to_numpy(zero_copy_only=False), np.uint8).tobytes()
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_temporal(t):
        if pa.types.is_temporal(t) and not (pa.types.is_date(t) or pa.types.is_timestamp(t)):
            column = pc.cast(column, pa.int64())  # times of day
        filled = pc.fill_null(column, pa.scalar(0, column.type)) if column.null_count else column
        yield 1, filled.to_numpy(zero_copy_only=False).tobytes()
        return
    if pa.types.is_boolean(t):
        yield 1, pc.fill_null(column, False).to_numpy(zero_copy_only=False).tobytes()
        return
    if pa.types.is_fixed_size_binary(t):
        column = pc.cast(column, pa.binary())
    elif not (pa.types.is_string(t) or pa.types.is_binary(t)):
        column = pc.cast(column, pa.string())  # decimals, nulls and the like: their text
    text = pc.fill_null(column, pa.scalar(b"" if pa.types.is_binary(column.type) else ""))
    yield 1, pc.binary_length(text).to_numpy(zero_copy_only=False).astype("<i8").tobytes()
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)
    first, end = offsets[text.offset], offsets[text.offset + len(text)]
    data = text.buffers()[2]
    if data is not None and end > first:
        yield 2, memoryview(data)[int(first) : int(end)]


# ----------------------------------------------------------------------------- typing


def _loaded(rows: _Rows, source: DatabaseSource, url: DatabaseUrl, what: str) -> DatabaseTable:
    name = source.name
    if rows.n_rows == 0:
        raise InputError(f"{what} returned no rows from {url.shown}")
    frame, notes = _typed_frame(rows)
    path = Path(name.replace("/", "_"))
    frame = clean_header(frame, path)
    frame, decimal, thousands, units = comma_numbers(frame, None)
    frame, huge = checked_values(frame, path, text_file=True)
    origin = (
        f"the rows of table {name} in {url.shown}"
        if source.table is not None
        else f"the rows of a query in {url.shown}"
    )
    return DatabaseTable(
        frame=frame,
        path=path,
        file_format="database",
        sha256=rows.sha256,
        decimal_comma=decimal,
        thousands_comma=thousands,
        units=units,
        notes=(f"{origin} were read ({rows.n_rows:,} rows)", *notes, *huge),
        url=url.shown,
        table_name=source.table.strip() if source.table is not None else None,
        query=source.query.strip() if source.query is not None else None,
    )


def _typed_frame(rows: _Rows) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Each column as a CSV export of it would be read; its Arrow data is freed once converted,
    so the peak is the Arrow rows plus one column."""
    import pyarrow as pa

    names = list(rows.columns)
    out: dict[str, pd.Series] = {}
    notes: list[str] = []
    pool = pa.default_memory_pool()
    for name in names:
        column = rows.columns.pop(name)
        series, note = _typed_column(column)
        del column
        pool.release_unused()  # the column's Arrow memory back to the system before the next
        out[name] = series
        if note:
            notes.append(f"'{name}' {note}")
    return pd.DataFrame(out, copy=False), tuple(notes)


def _typed_column(column: Any) -> tuple[pd.Series, str | None]:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if isinstance(t, pa.BaseExtensionType):
        column = pa.chunked_array([c.storage for c in column.chunks], type=t.storage_type)
        if t.extension_name == "arrow.uuid":
            return _text(_uuid_text(column)), None
        if t.extension_name == "arrow.opaque" and getattr(t, "type_name", "") == "numeric":
            return _numbers(pc.cast(column, pa.float64())), None
        return _text(column), None
    if pa.types.is_integer(t):
        if pa.types.is_uint64(t) and (pc.max(column).as_py() or 0) >= 1 << 63:
            return _numbers(pc.cast(column, pa.float64())), None  # beyond int64: decimals
        ints = pc.cast(column, pa.int64())
        return pd.Series(ints.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)), None
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _numbers(pc.cast(column, pa.float64())), None
    if pa.types.is_boolean(t):
        return pd.Series(column.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)), None
    if pa.types.is_timestamp(t):
        return _timestamps(column)
    if pa.types.is_temporal(t):  # dates and times of day: their ISO text, as a CSV export
        return pd.Series(pc.cast(column, pa.string()).to_pandas()), None
    return _text(column if not pa.types.is_null(t) else pc.cast(column, pa.string())), None


def _numbers(column: Any) -> pd.Series:
    return pd.Series(column.to_pandas())


def _text(column: Any) -> pd.Series:
    """Text as the CSV reader types it: the reader's missing-value words are missing, leading
    spaces go, and a column whose every value is a plain number becomes numbers (io.load)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    missing = pc.is_in(column, value_set=pa.array(NA_VALUES, pa.string()))
    column = pc.if_else(missing, pa.scalar(None, pa.string()), column)
    head = pc.utf8_ltrim_whitespace(pc.drop_null(column).slice(0, 1000))
    try:
        pc.cast(head, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Not numbers (a value that is no number settles it): the reader's typing would try
        # the whole column and keep its trimmed text, at ten times the cost of this check.
        return pd.Series(pc.utf8_ltrim_whitespace(column).to_pandas())
    return typed_column(column, pc, pa)


def _uuid_text(column: Any) -> Any:
    import pyarrow as pa

    values = [None if v is None else _uuid_str(v) for v in column.to_pylist()]
    return pa.array(values, pa.string())


def _uuid_str(raw: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes=raw))


def _timestamps(column: Any) -> tuple[pd.Series, str | None]:
    """Timestamps as an export writes them ('2024-01-03 10:00:00'), with fractions of a second
    only where there are some; with a time zone, in UTC (said in a note). Never numbers, so the
    text typing has nothing to try on them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    note = None
    if t.tz is not None:
        column = pc.cast(column, pa.timestamp(t.unit))  # the UTC wall clock
        note = "held times with a time zone: they were read in UTC"
    seconds = pc.cast(column, pa.timestamp("s"), safe=False)
    whole = pc.all(pc.equal(pc.cast(seconds, column.type), column)).as_py()
    text = pc.cast(seconds if whole in (True, None) else column, pa.string())
    return pd.Series(text.to_pandas()), note


def source_fields(table: LoadedTable) -> dict[str, str | None]:
    """What summary.json and model.json record of a database source beside the file fields:
    the URL without its password, and the table or the query. Empty for a file."""
    if not isinstance(table, DatabaseTable):
        return {}
    return {"url": table.url, "table": table.table_name, "query": table.query}
