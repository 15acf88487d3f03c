"""Reading customers and orders from a database (io.database): SQLite files made here, and a real
PostgreSQL server started for the session (tests/pg_server.py), never a mock of either.

The rule under test: the rows of a table or a query give the same brief as the CSV export of the
same rows; credentials never reach an output; bad input is one line, exit code 2, nothing
written; the connection never writes.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from reportgen.cli import app
from reportgen.errors import ConfigError, InputError
from reportgen.io import database
from reportgen.io.database import DatabaseSource, RowsHash, parse_url, quote_identifier
from reportgen.io.load import read_table
from reportgen.io.sources import FileSource, open_source
from tests import pg_server
from tests.conftest import DATA, FIXTURES, pdf_text

runner = CliRunner()
INSURANCE = DATA / "insurance_survey.csv"
RETAIL = FIXTURES / "online_retail_sample.csv.gz"
PASSWORD = "s3cret-Pa55"  # the reporting role's, on the throw-away server


# ----------------------------------------------------------------------------- helpers


def sqlite_file(path: Path, ddl: str, rows: list[tuple] = (), insert: str | None = None) -> str:
    """An SQLite file made with the standard library; its URL."""
    with sqlite3.connect(path) as conn:
        conn.executescript(ddl)
        if rows:
            conn.executemany(insert, rows)
    conn.close()
    return f"sqlite:///{path}"


def sqlite_from_csv(csv: Path, db: Path, table: str = "customers") -> str:
    """The CSV's rows in an SQLite table (whole numbers INTEGER, other numbers REAL, text)."""
    frame = read_table(csv).frame
    with sqlite3.connect(db) as conn:
        frame.to_sql(table, conn, index=False)
    conn.close()
    return f"sqlite:///{db}"


def one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    # The warning about a password in the URL comes once per process, so whether it is here
    # depends on the tests run before: the error itself is the one line that matters.
    lines = [
        x for x in result.output.strip().splitlines() if not x.startswith("reportgen: warning:")
    ]
    out = "\n".join(lines)
    assert "Traceback" not in result.output and len(lines) == 1, result.output
    for needle in needles:
        assert needle in out, out
    return out


def brief(*args: str, env: dict | None = None):
    return runner.invoke(app, ["brief", *args, "--quiet"], env=env)


def brief_words(pdf: Path, source: str) -> str:
    """The brief's words with the source's name, the note on where the rows came from and the
    input's hash line made neutral: the only text that may differ between a database and its
    CSV export."""
    text = " ".join(" ".join(pdf_text(pdf)).split())
    text = re.sub(r"Reading \S+: the rows of .*? were read \([\d,]+ rows\)\.", "", text)
    text = re.sub(r"File \S+ \((?:database|CSV[^)]*)\), SHA-256 [0-9a-f]+\.", "FILE.", text)
    # The starter-dictionary hint names the input: a file, or the URL with --table / --query.
    # (A long URL may wrap, and a line may break after "--", so both are allowed for.)
    hint = r"reportgen init (?:.{0,300}? -- ?table \S+|.{0,300}? -- ?query QUERY|\S+)"
    text = re.sub(hint, "reportgen init SOURCE", text)
    return " ".join(text.replace(source, "SOURCE").split())


# ----------------------------------------------------------------------------- URLs, passwords


def test_url_shown_without_password_and_read_only(monkeypatch, capsys):
    database._warned.clear()
    url = parse_url("postgresql://reporting:hunter2@db.example.com:5433/crm?sslmode=require")
    assert url.shown == "postgresql://reporting@db.example.com:5433/crm?sslmode=require"
    assert "hunter2" not in repr(url) and "hunter2" in url.connect
    assert "default_transaction_read_only%3Don" in url.connect and url.database == "crm"
    warning = capsys.readouterr().err
    assert "REPORTGEN_DB_PASSWORD" in warning and "hunter2" not in warning
    parse_url("postgresql://reporting:hunter2@db.example.com:5433/crm?sslmode=require")
    assert capsys.readouterr().err == ""  # once per URL


def test_password_from_the_environment_and_in_query_parameters(monkeypatch, capsys):
    monkeypatch.setenv("REPORTGEN_DB_PASSWORD", "from-env")
    url = parse_url("postgresql://reporting@localhost/crm")
    assert "from-env" in url.connect and "from-env" not in url.shown
    assert capsys.readouterr().err == ""  # nothing to warn about
    hidden = parse_url("postgresql+psycopg://reporting@localhost/crm?password=zz&sslpassword=yy")
    assert "zz" not in hidden.shown and "yy" not in hidden.shown
    assert hidden.shown.startswith("postgresql+psycopg://reporting@localhost/crm")


def test_sqlite_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_url("sqlite:///crm.db").connect == f"file:{tmp_path}/crm.db?mode=ro"
    assert parse_url("sqlite:////abs/x y.db").connect == "file:/abs/x%20y.db?mode=ro"
    for bad in ("sqlite://", "sqlite:///:memory:"):
        with pytest.raises(ConfigError, match="names a database file"):
            parse_url(bad)
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        parse_url("mysql://u@h/db")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://reporting:Zq9@Kx7:Wv3/Ry5@db.example.com:5432/crm",  # SQLAlchemy fails
        "postgresql://reporting:Zq9/Kx7@Wv3@db.example.com/crm",  # parses: host 'Wv3@db…'
        "postgresql://reporting:Zq9@Kx7/Wv3@db.example.com/crm",  # parses: database 'Wv3@db…'
    ],
)
def test_a_raw_password_with_at_or_slash_is_refused_and_not_shown(url):
    """A password holding a raw '@', ':' or '/' cannot be parsed unambiguously (libpq cuts it at
    its first '@' too): refused, and no piece of it in the message."""
    with pytest.raises(ConfigError, match="percent-encoded") as info:
        parse_url(url)
    message = str(info.value)
    password = url.split("reporting:", 1)[1].rsplit("@", 1)[0]
    for piece in re.split(r"[@:/]", password):
        assert piece not in message, (piece, message)
    assert "db.example.com" in message


def test_percent_encoded_passwords_and_bad_ports(capsys):
    url = parse_url("postgresql://rep:p%40ss%3Aw%2Frd%25x@db/crm?sslmode=require")
    assert url.password == "p@ss:w/rd%x" and url.shown == "postgresql://rep@db/crm?sslmode=require"
    assert "p%40ss%3Aw%2Frd%25x" in url.connect  # libpq gets it encoded again
    with pytest.raises(ConfigError, match="the port a number") as info:
        parse_url("postgresql://rep@db:abc/crm")
    assert "int()" not in str(info.value)
    assert parse_url("SQLITE:///crm.db").dialect == "sqlite"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("ATTACH DATABASE 'made.db' AS made", "not 'ATTACH'"),
        ("VACUUM INTO 'copy.db'", "not 'VACUUM'"),
        ("PRAGMA journal_mode = WAL", "not 'PRAGMA'"),
        ("SELECT * FROM customers; ATTACH 'made.db' AS made", "more than one statement"),
        ("DELETE FROM customers", "not 'DELETE'"),
    ],
)
def test_a_query_must_be_one_statement_that_reads(small_db, tmp_path, monkeypatch, query, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=re.escape(message)):
        open_source(small_db, query=query).read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.db"]  # no file made


def test_queries_that_read_pass_the_check(small_db):
    for query in (
        "-- this month\n/* all */ SELECT id, spend FROM customers;  -- done",
        "WITH c AS (SELECT id, spend FROM customers) SELECT * FROM c;",
        "select ';' AS semi, id FROM customers",
        "SELECT*FROM (SELECT id, spend FROM customers)",
    ):
        assert len(open_source(small_db, query=query).read().frame) == 2, query


def test_sqlite_schema_name_main(small_db):
    got = open_source(small_db, table="main.customers", query=None)
    with pytest.raises(InputError, match="photo"):  # found: it is the BLOB that stops it
        got.read()


def test_identifiers_are_quoted():
    assert quote_identifier("customers") == '"customers"'
    assert quote_identifier('a"; DROP TABLE x; --') == '"a""; DROP TABLE x; --"'
    with pytest.raises(InputError):
        quote_identifier("a\x00b")


def test_table_or_query_only_with_a_url(tmp_path):
    with pytest.raises(ConfigError, match="table applies to a database URL"):
        open_source(INSURANCE, table="customers")
    with pytest.raises(ConfigError, match="needs --table NAME or --query"):
        open_source("sqlite:///x.db")
    with pytest.raises(ConfigError, match="one of them"):
        open_source("sqlite:///x.db", table="a", query="select 1")
    with pytest.raises(ConfigError, match="skip_rows applies to files"):
        open_source("sqlite:///x.db", table="a", skip_rows=2)
    with pytest.raises(ConfigError, match="lost its '//'"):
        open_source(Path("sqlite:///x.db"))
    assert isinstance(open_source(str(INSURANCE)), FileSource)


# ----------------------------------------------------------------------------- SQLite: typing


def test_sqlite_table_reads_as_its_csv(tmp_path):
    url = sqlite_from_csv(INSURANCE, tmp_path / "crm.db")
    from_db = open_source(url, table="customers").read()
    from_file = read_table(INSURANCE)
    assert from_db.frame.columns.tolist() == from_file.frame.columns.tolist()
    # Same values; whole numbers with blanks are REAL in SQLite (pandas wrote them as floats).
    pd.testing.assert_frame_equal(from_db.frame, from_file.frame, check_dtype=False)
    assert from_db.file_format == "database" and from_db.path.name == "customers"
    assert from_db.notes[0].startswith("the rows of table customers in sqlite:///")


def test_text_is_typed_like_a_file(tmp_path):
    url = sqlite_file(
        tmp_path / "t.db",
        "CREATE TABLE t (id TEXT, amount TEXT, spend TEXT, euro TEXT, note TEXT, born DATE);",
        [
            ("007", "12", " 1,234.5", "12,50 €", "NA", "2020-01-31"),
            ("008", "13", "2,000", "3,10 €", "", "2021-02-01"),
            ("009", None, "17", "1,00 €", "fine", None),
        ],
        "INSERT INTO t VALUES (?,?,?,?,?,?)",
    )
    got = open_source(url, query="SELECT * FROM t").read()
    frame = got.frame
    assert frame["id"].tolist() == ["007", "008", "009"]  # ids keep their zeros
    assert str(frame["amount"].dtype) == "Int64" and frame["amount"].isna().tolist()[2]
    assert frame["spend"].tolist() == [1234.5, 2000.0, 17.0] and got.thousands_comma == ("spend",)
    assert got.units == {"euro": "€"} and frame["euro"].tolist() == [12.5, 3.1, 1.0]
    assert frame["note"].isna().tolist() == [True, True, False]  # the reader's missing words
    assert frame["born"].tolist()[:2] == ["2020-01-31", "2021-02-01"]


def test_sqlite_columns_without_a_fixed_type(tmp_path):
    """ADBC types a column from its first batch; a different value later is still read."""
    n = database.SQLITE_BATCH_ROWS + 10
    rows = [(i, i * 1.0) for i in range(n)] + [("x-1", 2.5)]
    url = sqlite_file(
        tmp_path / "m.db", "CREATE TABLE m (code, value);", rows, "INSERT INTO m VALUES (?,?)"
    )
    got = open_source(url, table="m").read()
    assert len(got.frame) == n + 1 and got.frame["code"].iloc[-1] == "x-1"


def test_postgres_types(pg):
    pg.psql(
        "CREATE TABLE typed (id bigint, price numeric(10,2), ok boolean, at timestamptz, "
        "code uuid, extra jsonb, seen date, t time);"
        "INSERT INTO typed VALUES (1, 12.50, true, '2024-01-03 10:00:00+01', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', '2024-02-29', '10:30:00'),"
        "(2, NULL, false, NULL, NULL, NULL, NULL, NULL);"
        "GRANT SELECT ON typed TO reporting;",
        "crm",
    )
    got = DatabaseSource(pg.socket_url("crm"), table="typed").read()
    frame = got.frame
    assert frame["price"].tolist()[0] == 12.5 and pd.isna(frame["price"].iloc[1])
    assert frame["ok"].tolist() == [True, False]
    assert frame["at"].iloc[0] == "2024-01-03 09:00:00"  # in UTC
    assert any("time zone" in n for n in got.notes)
    assert frame["code"].iloc[0] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert frame["seen"].iloc[0] == "2024-02-29" and frame["t"].iloc[0] == "10:30:00.000000"


# ----------------------------------------------------------------------------- the rows' hash


def test_hash_is_of_the_rows(tmp_path):
    url = sqlite_from_csv(INSURANCE, tmp_path / "a.db")
    first = open_source(url, table="customers").read().sha256
    assert open_source(url, query="select * from customers").read().sha256 == first
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("UPDATE customers SET region = 'Town' WHERE rowid = 7")
    conn.close()
    assert open_source(url, table="customers").read().sha256 != first


def test_hash_does_not_depend_on_batches():
    table = pa.table(
        {
            "id": pa.array([1, 2, None, 4, 5, 6, 7]),
            "name": pa.array(["a", None, "ccc", "", "é", "ff", "g"]),
            "x": pa.array([0.5, None, 1.5, 2.0, None, 3.0, 1e300]),
            "d": pa.array([1, 2, 3, None, 5, 6, 7], pa.date32()),
        }
    )

    def digest(size: int) -> str:
        h = RowsHash(table.schema.names)
        for batch in table.to_batches(max_chunksize=size):
            h.update(batch)
        return h.hexdigest()

    assert digest(1) == digest(3) == digest(7)
    other = table.set_column(1, "name", pa.array(["a", None, "ccc", None, "é", "ff", "g"]))
    h = RowsHash(other.schema.names)
    h.update(other.to_batches()[0])
    assert h.hexdigest() != digest(7)  # a blank and a NULL are different rows


# ----------------------------------------------------------------------------- SQLite: bad input


@pytest.fixture
def small_db(tmp_path) -> str:
    return sqlite_file(
        tmp_path / "crm.db",
        "CREATE TABLE customers (id INTEGER, spend REAL, photo BLOB);"
        "CREATE TABLE orders (id INTEGER);",
        [(1, 2.0, b"\x00"), (2, 3.0, None)],
        "INSERT INTO customers VALUES (?,?,?)",
    )


@pytest.mark.parametrize(
    ("table", "query", "message"),
    [
        ("nosuch", None, "no table nosuch in sqlite:///"),
        ("customers; DROP TABLE orders", None, "no table customers; DROP TABLE orders"),
        (None, "SELECT * FROM nosuch", "the query failed in sqlite:///"),
        (None, "SELEC 1", "not 'SELEC'"),
        (None, "SELECT FROM WHERE", "syntax error"),
        (None, "SELECT id FROM customers WHERE id > 9", "the query returned no rows"),
        ("orders", None, "table orders returned no rows"),
        ("customers", None, "column 'photo' holds binary values, which reportgen cannot use"),
        (None, "SELECT id, id FROM customers", "duplicate column names: id"),
    ],
)
def test_sqlite_bad_input(small_db, table, query, message):
    with pytest.raises(InputError, match=re.escape(message)) as info:
        open_source(small_db, table=table, query=query).read()
    assert "\n" not in str(info.value)


def test_table_names_are_matched_not_pasted(tmp_path):
    url = sqlite_file(
        tmp_path / "q.db",
        'CREATE TABLE "odd ""name"" here" (id INTEGER, v REAL); CREATE TABLE Mixed (id INTEGER);',
        [(1, 1.0), (2, 2.0)],
        'INSERT INTO "odd ""name"" here" VALUES (?,?)',
    )
    assert len(open_source(url, table='odd "name" here').read().frame) == 2
    with sqlite3.connect(tmp_path / "q.db") as conn:
        conn.execute("INSERT INTO Mixed VALUES (1)")
    conn.close()
    assert len(open_source(url, table="mixed").read().frame) == 1  # case as SQL folds it


def test_sqlite_missing_or_foreign_file(tmp_path):
    with pytest.raises(InputError, match="database file not found"):
        open_source(f"sqlite:///{tmp_path}/none.db", table="t").read()
    (tmp_path / "x.db").write_text("id,spend\n1,2\n")
    with pytest.raises(InputError, match="x.db is not an SQLite database"):
        open_source(f"sqlite:///{tmp_path}/x.db", table="t").read()


def test_sqlite_is_opened_read_only(small_db, tmp_path):
    # Past the query check (they start with WITH): the connection itself refuses.
    for sql in (
        "WITH x AS (SELECT 1) DELETE FROM customers RETURNING id",
        "WITH x AS (SELECT 1) INSERT INTO orders SELECT * FROM x RETURNING id",
    ):
        with pytest.raises(InputError, match="readonly database"):
            open_source(small_db, query=sql).read()
    with sqlite3.connect(tmp_path / "crm.db") as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (0,)
    conn.close()


# ----------------------------------------------------------------------------- SQLite: the CLI


@pytest.fixture(scope="module")
def insurance_brief(tmp_path_factory):
    """The brief of the bundled CSV, once (the reference the database briefs must match)."""
    out = tmp_path_factory.mktemp("csv") / "out"
    result = brief(str(INSURANCE), "--out", str(out), env={"SOURCE_DATE_EPOCH": "1764288000"})
    assert result.exit_code == 0, result.output
    return out


def test_cli_brief_from_sqlite_same_as_csv(tmp_path, insurance_brief):
    url = sqlite_from_csv(INSURANCE, tmp_path / "crm.db", "crm_rows")
    out = tmp_path / "db-out"
    result = brief(url, "--table", "crm_rows", "--out", str(out))
    assert result.exit_code == 0, result.output
    for name in ("assignments.csv", "profiles.csv"):
        assert (out / name).read_bytes() == (insurance_brief / name).read_bytes(), name
    assert brief_words(out / "brief.pdf", "crm_rows") == brief_words(
        insurance_brief / "brief.pdf", "insurance_survey.csv"
    )
    assert len(pdf_text(out / "brief.pdf")) == len(pdf_text(insurance_brief / "brief.pdf"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["url"] == url and summary["input"]["table"] == "crm_rows"
    model = json.loads((out / "model.json").read_text())
    assert model["input"]["url"] == url and model["input"]["sha256"] == summary["input"]["sha256"]


def test_a_brief_from_a_database_suggests_init_for_that_table(tmp_path):
    url = sqlite_from_csv(DATA / "wholesale_customers.csv", tmp_path / "shop.db", "buyers")
    out = tmp_path / "out"
    result = brief(url, "--table", "buyers", "--out", str(out), "--resamples", "3")
    assert result.exit_code == 0, result.output
    text = "".join("".join(pdf_text(out / "brief.pdf")).split())  # a long URL wraps
    assert f"reportgeninit{url}--tablebuyers" in text


def test_cli_score_from_sqlite(tmp_path, insurance_brief):
    url = sqlite_from_csv(INSURANCE, tmp_path / "crm.db")
    from_db = runner.invoke(
        app, ["score", url, "--query", "select * from customers", "--model", str(insurance_brief)]
    )
    from_csv = runner.invoke(app, ["score", str(INSURANCE), "--model", str(insurance_brief)])
    assert from_db.exit_code == 0, from_db.output
    assert from_db.stdout == from_csv.stdout and from_db.stdout.count("\n") == 151


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "nosuch"], "no table nosuch"),
        ([], 'reading a database needs --table NAME or --query "SELECT'),
        (["--query", "select * from customers where 0"], "the query returned no rows"),
    ],
)
def test_cli_sqlite_bad_input(small_db, tmp_path, args, message):
    out = tmp_path / "never"
    one_line_error(brief(small_db, *args, "--out", str(out)), message)
    assert not out.exists()


def test_cli_table_with_a_file(tmp_path):
    out = tmp_path / "never"
    one_line_error(
        brief(str(INSURANCE), "--table", "customers", "--out", str(out)),
        "--table applies to a database URL",
    )
    assert not out.exists()


# ----------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_cluster():
    reason = pg_server.unavailable()
    if reason:
        pytest.skip(reason)
    server = pg_server.start()
    try:
        server.psql(
            f"CREATE ROLE reporting LOGIN PASSWORD '{PASSWORD}';"
            "CREATE DATABASE crm;"
            "REVOKE ALL ON DATABASE crm FROM PUBLIC; GRANT CONNECT ON DATABASE crm TO reporting;"
        )
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg(pg_cluster):
    return pg_cluster


def _sql_type(series: pd.Series) -> str:
    if str(series.dtype) == "Int64":
        return "bigint"
    if pd.api.types.is_float_dtype(series):
        return "double precision"
    return "text"


def load_csv(server, csv: Path, table: str, types: dict[str, str] | None = None) -> None:
    """The CSV's rows in a PostgreSQL table through COPY, columns typed as its reading types
    them (or as `types` says), readable by the reporting role."""
    frame = read_table(csv).frame
    columns = ", ".join(
        f"{quote_identifier(c)} {(types or {}).get(c, _sql_type(frame[c]))}" for c in frame.columns
    )
    text = gzip.decompress(csv.read_bytes()) if csv.suffix == ".gz" else csv.read_bytes()
    copy = f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"
    server.psql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({columns});", "crm")
    server.psql(copy, "crm", data=text.decode("utf-8"))
    server.psql(f"GRANT SELECT ON {table} TO reporting;", "crm")


def export_csv(server, sql: str, path: Path) -> Path:
    """The rows of `sql` as PostgreSQL's own CSV export writes them (psql \\copy)."""
    out = server.psql(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)", "crm")
    path.write_text(out)
    return path


@pytest.fixture(scope="session")
def crm(pg_cluster):
    load_csv(pg_cluster, INSURANCE, "customers")
    load_csv(
        pg_cluster,
        RETAIL,
        "orders",
        {"InvoiceNo": "text", "StockCode": "text", "InvoiceDate": "timestamp"},
    )
    return pg_cluster


@pytest.mark.slow
def test_done_when_postgres_query_gives_the_csv_exports_brief(crm, tmp_path):
    """`reportgen brief postgresql://reporting@…/crm --query "select * from customers"` gives the
    brief of the CSV export of the same rows: the same assignments.csv bytes, the same PDF text
    but for the lines that name the source."""
    export = export_csv(crm, "select * from customers", tmp_path / "customers.csv")
    url = crm.url("crm", "reporting")
    env = {"REPORTGEN_DB_PASSWORD": PASSWORD, "SOURCE_DATE_EPOCH": "1764288000"}
    from_db = brief(
        url, "--query", "select * from customers", "--out", str(tmp_path / "d"), env=env
    )
    assert from_db.exit_code == 0, from_db.output
    from_csv = brief(str(export), "--out", str(tmp_path / "c"), env=env)
    assert from_csv.exit_code == 0, from_csv.output
    d, c = tmp_path / "d", tmp_path / "c"
    for name in ("assignments.csv", "profiles.csv"):
        assert (d / name).read_bytes() == (c / name).read_bytes(), name
    assert brief_words(d / "brief.pdf", "crm") == brief_words(c / "brief.pdf", "customers.csv")
    assert len(pdf_text(d / "brief.pdf")) == len(pdf_text(c / "brief.pdf"))
    text = "\n".join(pdf_text(d / "brief.pdf"))
    assert "the rows of a query in postgresql://reporting@127.0.0.1" in " ".join(text.split())
    for name in ("summary.json", "model.json", "brief.html"):
        assert PASSWORD not in (d / name).read_text(), name
    summary = json.loads((d / "summary.json").read_text())
    assert summary["input"]["url"] == url and summary["input"]["query"].startswith("select")


@pytest.mark.slow
def test_order_log_from_postgres_is_recognised_as_its_export(crm, tmp_path):
    export = export_csv(crm, "select * from orders", tmp_path / "orders.csv")
    env = {"REPORTGEN_DB_PASSWORD": PASSWORD, "SOURCE_DATE_EPOCH": "1764288000"}
    args = ("--resamples", "3")
    url = crm.url("crm", "reporting")
    from_db = brief(url, "--table", "orders", "--out", str(tmp_path / "d"), *args, env=env)
    assert from_db.exit_code == 0, from_db.output
    from_csv = brief(str(export), "--out", str(tmp_path / "c"), *args, env=env)
    assert from_csv.exit_code == 0, from_csv.output
    d, c = tmp_path / "d", tmp_path / "c"
    assert (d / "assignments.csv").read_bytes() == (c / "assignments.csv").read_bytes()
    summary = json.loads((d / "summary.json").read_text())
    assert summary["order_log"] == json.loads((c / "summary.json").read_text())["order_log"]
    assert summary["order_log"] is not None


def test_postgres_password_in_url_works_and_is_never_shown(crm, tmp_path):
    database._warned.clear()
    url = crm.url("crm", "reporting", PASSWORD)
    got = DatabaseSource(url, query="select * from customers").read()
    assert len(got.frame) == 150
    assert PASSWORD not in got.url and PASSWORD not in " ".join(got.notes)
    assert PASSWORD not in repr(DatabaseSource(url, table="customers"))


def test_postgres_pgpassword_is_the_drivers_own(crm, monkeypatch):
    monkeypatch.delenv("REPORTGEN_DB_PASSWORD", raising=False)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    got = DatabaseSource(crm.url("crm", "reporting"), table="customers").read()
    assert len(got.frame) == 150


def test_postgres_unix_socket_and_schema_table(crm):
    crm.psql(
        "CREATE SCHEMA IF NOT EXISTS sales; DROP TABLE IF EXISTS sales.leads;"
        "CREATE TABLE sales.leads AS SELECT * FROM customers LIMIT 20;",
        "crm",
    )
    got = DatabaseSource(crm.socket_url("crm"), table="sales.leads").read()
    assert len(got.frame) == 20 and got.path.name == "sales.leads"


def test_postgres_money_is_refused_not_read_as_cents(pg):
    with pytest.raises(InputError, match=r"money values.*\"price\"::numeric"):
        DatabaseSource(pg.socket_url("crm"), query="select 1 as id, 12.5::money as price").read()
    got = DatabaseSource(pg.socket_url("crm"), query="select 12.5::money::numeric as price").read()
    assert got.frame["price"].tolist() == [12.5]


def test_postgres_connect_timeout_is_said(tmp_path):
    """A server that accepts the connection and never answers: an error after connect_timeout,
    not a hang, saying how long was waited."""
    import socket
    import time

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        port = listener.getsockname()[1]
        url = f"postgresql://reporting@127.0.0.1:{port}/crm?connect_timeout=2"
        started = time.monotonic()
        with pytest.raises(InputError, match=r"timeout expired \(no answer in 2 s"):
            DatabaseSource(url, table="customers").read()
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("make_url", "args", "env", "message"),
    [
        (
            lambda s: s.url("crm", "reporting"),
            ["--table", "customers"],
            {"REPORTGEN_DB_PASSWORD": "wrong-one"},
            'password authentication failed for user "reporting"',
        ),
        (
            lambda s: f"postgresql://reporting@127.0.0.1:{pg_server._free_port()}/crm",
            ["--table", "customers"],
            {"REPORTGEN_DB_PASSWORD": PASSWORD},
            "Connection refused",
        ),
        (
            lambda s: s.url("crm", "reporting"),
            ["--table", "nosuch"],
            {"REPORTGEN_DB_PASSWORD": PASSWORD},
            "no table nosuch in postgresql://reporting@127.0.0.1",
        ),
        (
            lambda s: s.url("crm", "reporting"),
            ["--query", "select * from customers where age_band = 'none'"],
            {"REPORTGEN_DB_PASSWORD": PASSWORD},
            "the query returned no rows",
        ),
        (
            lambda s: s.url("crm", "reporting"),
            ["--query", "select nosuch from customers"],
            {"REPORTGEN_DB_PASSWORD": PASSWORD},
            "the query failed in postgresql://reporting@127.0.0.1:",
        ),
        (
            lambda s: s.url("crm", "reporting"),
            ["--query", "select 1 as id, '\\x00ff'::bytea as blob"],
            {"REPORTGEN_DB_PASSWORD": PASSWORD},
            "column 'blob' holds bytea values",
        ),
        (
            lambda s: s.url("crm", "reporting", "wrong-pass"),
            ["--table", "customers"],
            {},
            "password authentication failed",
        ),
    ],
)
def test_postgres_bad_input_one_line(crm, tmp_path, make_url, args, env, message):
    out = tmp_path / "never"
    result = brief(make_url(crm), *args, "--out", str(out), env=env)
    one_line_error(result, message)
    said = result.output  # the warning line too, when there is one
    assert PASSWORD not in said and "wrong-one" not in said and "wrong-pass" not in said
    assert not out.exists()


def test_postgres_connection_is_read_only(crm):
    """Even as the superuser (who may write anything), the connection refuses writes."""
    for sql in (
        "SELECT * FROM customers FOR UPDATE",
        "WITH gone AS (DELETE FROM customers RETURNING *) SELECT * FROM gone",
        "WITH made AS (SELECT 1 AS id) SELECT * INTO intruder FROM made",
    ):
        with pytest.raises(InputError, match="read-only transaction"):
            DatabaseSource(crm.socket_url("crm"), query=sql).read()
    # What the read-only transaction lets through is refused before it is sent.
    copy_to = crm.root / "copied.txt"
    with pytest.raises(InputError, match="not 'COPY'"):
        DatabaseSource(crm.socket_url("crm"), query=f"COPY customers TO '{copy_to}'").read()
    assert not copy_to.exists()
    assert re.search(r"^\s*150$", crm.psql("SELECT count(*) FROM customers", "crm"), re.M)
    assert "intruder" not in crm.psql("\\dt", "crm")


# ----------------------------------------------------------------------------- monthly runs


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content or envelope.content)
        return "250 2.0.0 queued"


@pytest.mark.slow
def test_monthly_script_reads_the_query_compares_and_emails(tmp_path):
    """scripts/monthly.sh from a database: two months of rows in SQLite, reports/YYYY-MM each,
    the second compared with the first, the overview brief emailed to a real SMTP server."""
    import email
    import os
    import subprocess
    import sys

    from aiosmtpd.controller import Controller

    from tests.conftest import ROOT, make_period

    db = tmp_path / "crm.db"
    recipients = tmp_path / "owners.yaml"
    recipients.write_text("overview:\n  - cmo@example.com\n")
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=pg_server._free_port())
    controller.start()
    reports = tmp_path / "reports"
    env = dict(
        os.environ,
        REPORTGEN=str(Path(sys.executable).parent / "reportgen"),
        RECIPIENTS=str(recipients),
        MAIL_FROM="briefs@example.com",
        SMTP_HOST="127.0.0.1",
        SMTP_OPTS=f"--smtp-port {controller.port}",
        SOURCE_DATE_EPOCH="1764288000",
    )
    try:
        for month in (1, 2):
            with sqlite3.connect(db) as conn:
                make_period(month)[0].to_sql("customers", conn, index=False, if_exists="replace")
            conn.close()
            env["MONTH"] = f"2026-0{month}"
            done = subprocess.run(
                [str(ROOT / "scripts" / "monthly.sh"), f"sqlite:///{db}", str(reports)]
                + ["--query", "SELECT * FROM customers ORDER BY customer_id", "--k", "3"],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stderr
    finally:
        controller.stop()
    assert os.readlink(reports / "latest") == "2026-02"
    assert "compared with 2026-01" in done.stdout
    second = " ".join(" ".join(pdf_text(reports / "2026-02" / "brief.pdf")).split())
    assert "What changed since" in second
    summary = json.loads((reports / "2026-02" / "summary.json").read_text())
    assert summary["input"]["query"].startswith("SELECT * FROM customers")
    assert len(inbox.messages) == 2  # the overview, once a month
    message = email.message_from_bytes(inbox.messages[1])
    attached = [p.get_filename() for p in message.walk() if p.get_filename()]
    assert len(attached) == 1 and attached[0].endswith(".pdf"), attached
    assert message["To"] == "cmo@example.com"


def test_cli_init_from_a_database(tmp_path, monkeypatch):
    url = sqlite_from_csv(INSURANCE, tmp_path / "crm.db")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", url, "--table", "customers"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "customers.yaml").exists()
    assert f"reportgen brief {url} --table customers --dictionary customers.yaml" in result.output


def test_config_keeps_the_url_as_text_and_never_shows_its_password():
    from reportgen.config import BriefConfig

    config = BriefConfig.of("postgresql://rep:hunter2@db/crm", query="select 1")
    assert config.data_url == "postgresql://rep:hunter2@db/crm"
    assert "hunter2" not in str(config.data_path) and "hunter2" not in repr(config)
    assert config.data_path.name == "crm"
    with pytest.raises(ConfigError, match="needs --table NAME or --query"):
        BriefConfig.of("sqlite:///crm.db")
    with pytest.raises(ConfigError, match="query applies to a database URL"):
        BriefConfig.of("customers.csv", query="select 1")


def test_postgres_pgpass_file_is_the_drivers_own(crm, tmp_path, monkeypatch):
    """~/.pgpass through libpq (PGPASSFILE points it at a file of the test's own)."""
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{crm.port}:crm:reporting:{PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.delenv("REPORTGEN_DB_PASSWORD", raising=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert len(DatabaseSource(crm.url("crm", "reporting"), table="customers").read().frame) == 150


@pytest.mark.slow
def test_password_in_the_url_reaches_no_output(crm, tmp_path):
    """A password written in the URL works, is warned about once, and is in no file the run
    writes, no line it prints."""
    database._warned.clear()
    url = crm.url("crm", "reporting", PASSWORD)
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["brief", url, "--table", "customers", "--out", str(out), "--resamples", "2"],
        env={"REPORTGEN_DB_PASSWORD": None, "PGPASSWORD": None},
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "written in its URL" in result.output and "REPORTGEN_DB_PASSWORD" in result.output
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) >= 6
    for path in written:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data, path.name
        if path.suffix == ".pdf":
            assert PASSWORD not in " ".join(pdf_text(path)), path.name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["url"] == crm.url("crm", "reporting")


def test_no_postgres_binaries_is_a_clear_skip_reason(monkeypatch):
    monkeypatch.setattr(pg_server, "find_bindir", lambda: None)
    reason = pg_server.unavailable()
    assert reason is not None and "install Debian's 'postgresql' package" in reason


def test_a_killed_sessions_server_is_stopped_by_the_next(tmp_path):
    """A test process killed before stop() leaves its server running; the next start() stops it
    (a live session's server is left alone)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    reason = pg_server.unavailable()
    if reason:
        pytest.skip(reason)
    script = "from tests import pg_server; import os; print(pg_server.start().root, flush=True)"
    killed = subprocess.run(
        [sys.executable, "-c", script + "; os.kill(os.getpid(), 9)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    orphan = Path(killed.stdout.strip())
    assert (orphan / "data" / "postmaster.pid").exists(), killed.stderr
    assert pg_server.reap_orphans(
        pg_server.find_bindir(), "postgres" if os.geteuid() == 0 else None
    )
    assert not orphan.exists()
    assert (
        orphan.name
        not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    )


def test_a_password_with_raw_slashes_or_ats_never_reaches_the_config_repr():
    from reportgen.config import BriefConfig

    config = BriefConfig.of("postgresql://ann:p@ss/w0rd@db.example/crm", table="customers")
    assert "p@ss" not in repr(config) and "w0rd" not in repr(config)
    assert config.data_path.name == "crm"
