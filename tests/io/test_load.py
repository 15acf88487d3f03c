"""Stage 1: reading tables in every supported format, and refusing bad files in one line."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from reportgen.errors import InputError
from reportgen.io.dictionary import resolve_dictionary
from reportgen.io.load import read_table


def test_comma_csv_keeps_ids_as_text(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("id,a\n007,1\n008,2\n")
    t = read_table(p)
    assert t.delimiter == "," and t.file_format == "csv"
    assert list(t.frame["id"]) == ["007", "008"]
    assert len(t.sha256) == 64


@pytest.mark.parametrize(
    "text, encoding",
    [
        ("Kunde;Umsatz €\nMüller;12,50\nÖzdemir;7,20\nRenée;3\n", "cp1252"),
        ("id,Ausgaben_€,visits\n1,209.68,15\n2,337.52,11\n", "cp1252"),
        ("nom;ville\nFrançois;Besançon\nAnaïs;Orléans\n", "cp1252"),
        ("Имя;Город\nИван;Москва\nПётр;Казань\n", "cp1251"),
        ("Όνομα;Πόλη\nΓιάννης;Αθήνα\nΜαρία;Πάτρα\n", "cp1253"),
        ("nombre;ciudad\nMuñoz;Logroño\nPeña;Cádiz\n", "cp1252"),
        ("nome;cidade\nConceição;São Paulo\nJoão;Lisboa\n", "cp1252"),
        ("navn;by\nSøren;Århus\nBjørn;Næstved\n", "cp1252"),
        ("nom;ville\nHélène;Nîmes\nJérôme;Sète\n", "cp1252"),
        ("nazwisko;miasto\nWęgrzyn;Poznań\nMichał;Wrocław\n", "cp1250"),
        ("imię;miasto\nŁukasz;Łódź\nMałgorzata;Kraków\n", "cp1250"),
        ("név;város\nKovács Gergő;Győr\nSzűcs Ádám;Pécs\n", "cp1250"),
        ("jméno;město\nJiří Novák;Brno\nPetr Dvořák;Plzeň\n", "cp1250"),
        ("jméno;město\nTomáš Veselý;Kladno\nLuboš Žák;Třebíč\n", "iso8859_2"),
        # Letters that tie between languages, or that no alphabet lists.
        ("nev;varos\nSzőke Péter;Győr\nKő Ádám;Pécs\nErdős Pál;Eger\n", "cp1250"),
        ("nazwisko;kwota\nWiśniewski;100\nDębski;200\nMaćkowiak;300\nPięta;400\n", "cp1250"),
        ("jmeno;castka\nŠimek;100\nŽáček;200\nNovák;300\n", "iso8859_2"),
        ("nombre;piso\nPeña;3º\nMuñoz;1ª\nGarcía;2º\n", "cp1252"),
        ("nome;nº\nJoão;1º\nConceição;2ª\n", "cp1252"),
        ("name;dosis\nMüller;5 µg\nSchäfer;10 µg\nKöhler;3 µg\n", "cp1252"),
        ("nom;plat\nJulie;bœuf\nLéa;œuf\nNoël;cœur\n", "cp1252"),
        ("nom;temp\nLéa;20 °C\nZoé;21 °C\n", "cp1252"),
        ("ad;sehir\nAyşe;İzmir\nÇağrı;Muğla\n", "cp1254"),
        ("Kunde;Stadt\nMüller;Köln\nRenée;Besançon\n", "utf-16"),
        ("Kunde;Stadt\nMüller;Köln\nRenée;Besançon\n", "utf-16-be"),
    ],
)
def test_single_byte_encodings_keep_names_intact(tmp_path, text, encoding):
    """A Windows-1252 export with a lone '€' or 'ü' is not read as mac_roman or hp_roman8, a
    Central European one (cp1250) keeps its 'ł' and 'ő', and a UTF-16 file with a BOM is UTF-16."""
    p = tmp_path / "export.csv"
    data = text.encode(encoding)
    p.write_bytes(b"\xfe\xff" + data if encoding == "utf-16-be" else data)
    t = read_table(p)
    header = text.splitlines()[0].split(";" if ";" in text else ",")
    assert list(t.frame.columns) == header
    assert str(t.frame.iloc[1, 0]) == text.splitlines()[2].split(";" if ";" in text else ",")[0]
    sep = ";" if ";" in text else ","
    words = {c for line in text.splitlines()[1:] for c in line.split(sep) if not c[0].isdigit()}
    assert words <= set(t.frame.astype(str).to_numpy().ravel())
    units = {c for line in text.splitlines()[1:] for c in line.split(sep) if c[0].isdigit()}
    if all(not u.replace(",", "").replace(".", "").isdigit() for u in units):
        assert units <= set(t.frame.astype(str).to_numpy().ravel())  # '3º', '5 µg', '20 °C'


def test_semicolon_and_latin1_detected(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes("name;Ausgaben\nMüller;1,5\nGroß;2\nWeiß;3\n".encode("cp1252"))
    t = read_table(p)
    assert t.delimiter == ";"
    assert "Müller" in set(t.frame["name"])


def test_tsv_and_gzip(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("a\tb\n1\t2\n3\t4\n")
    assert read_table(p).delimiter == "\t"
    g = tmp_path / "g.csv.gz"
    g.write_bytes(gzip.compress(b"a,b\n1,2\n3,4\n"))
    assert read_table(g).frame.shape == (2, 2)


def test_crlf_and_bom(tmp_path):
    p = tmp_path / "w.csv"
    p.write_bytes(b"\xef\xbb\xbfx,y\r\n1,2\r\n3,4\r\n")
    t = read_table(p)
    assert list(t.frame.columns) == ["x", "y"]


def test_parquet_and_excel(tmp_path):
    df = pd.DataFrame({"id": ["a", "b", "c"], "v": [1.0, 2.0, 3.0]})
    pq = tmp_path / "d.parquet"
    df.to_parquet(pq)
    assert read_table(pq).frame["v"].tolist() == [1.0, 2.0, 3.0]
    xl = tmp_path / "d.xlsx"
    df.to_excel(xl, index=False)
    assert read_table(xl).frame["v"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "not found"),
        ("data.json", b'{"a": 1}', "unknown file format"),
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"\n\n  \n", "empty"),
        ("header.csv", b"a,b\n", "no data rows"),
        ("binary.csv", b"\x00\x01\x02PK\x03\x04" * 50, "binary"),
        ("bad.parquet", b"not parquet at all", "cannot read"),
        ("bad.xlsx", b"not excel", "cannot read"),
        ("dup.csv", b"a,a\n1,2\n", "duplicate column"),
    ],
)
def test_bad_files_raise_one_line(tmp_path, name, content, message):
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(InputError) as err:
        read_table(p)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match="folder"):
        read_table(tmp_path)


def test_decimal_commas_are_read_as_numbers(tmp_path):
    p = tmp_path / "eu.csv"
    p.write_text(
        "id;umsatz;besuche;plz;notiz\n"
        "007;206,29;3;01067;ok\n"
        "008;1.234,5;4;80331;a,b\n"
        "009;;5;10115;\n"
        "010;-12;6;20095;x\n"
    )
    t = read_table(p)
    assert t.decimal_comma == ("umsatz",)
    assert list(t.frame["umsatz"].fillna(-1)) == [206.29, 1234.5, -1, -12.0]
    assert list(t.frame["id"]) == ["007", "008", "009", "010"]  # no comma: left alone
    assert t.frame["notiz"].iloc[1] == "a,b"  # text with a comma stays text


def test_french_amounts_with_spaces_and_euro_signs_are_numbers(tmp_path):
    """'1 234,50 €' (a no-break or thin space between thousands, the sign on every value) is
    1234.5 euros: the number goes to the segmentation, the sign becomes the column's unit."""
    p = tmp_path / "fr.csv"
    p.write_bytes(
        "client;montant;solde;taux;ville\r\n"
        "Béatrice;1\u00a0234,50\u00a0€;1 234,50;12 %;Nîmes\r\n"
        "Zoé;12\u00a0000,00\u00a0€;12 000,00;7,5 %;Sète\r\n"
        "Anaïs;99,90 €;-99,90;0 %;Arles 2 €\r\n".encode("cp1252")
    )
    t = read_table(p)
    assert list(t.frame["montant"]) == [1234.5, 12000.0, 99.9]
    assert list(t.frame["solde"]) == [1234.5, 12000.0, -99.9]
    assert list(t.frame["taux"]) == [12.0, 7.5, 0.0]
    assert t.units == {"montant": "€", "taux": "%"}
    assert t.decimal_comma == ("montant", "solde", "taux")
    assert t.frame["ville"].iloc[2] == "Arles 2 €"  # a sign on one value only: text
    d = resolve_dictionary(t.frame, units=t.units)
    assert d.column("montant").unit == "€" and d.column("solde").unit is None
    us = tmp_path / "us.csv"
    us.write_text('id,spend\n1,$7\n2,"$1,234.50"\n3,$ 12\n')
    t = read_table(us)
    assert list(t.frame["spend"]) == [7.0, 1234.5, 12.0] and t.units == {"spend": "$"}


def test_thousands_separators_are_not_read_as_decimal_commas(tmp_path):
    """A US-style tab export: '1,234' is one thousand two hundred and thirty-four, not 1.234."""
    p = tmp_path / "us.tsv"
    p.write_text(
        "id\tspend\tvisits\tmixed\n1\t1,234\t3\t1,234.50\n2\t2,500\t4\t950\n3\t875\t5\t12,000\n"
    )
    t = read_table(p)
    assert t.decimal_comma == ()
    assert t.thousands_comma == ("spend", "mixed")
    assert list(t.frame["spend"]) == [1234.0, 2500.0, 875.0]
    assert list(t.frame["mixed"]) == [1234.5, 950.0, 12000.0]


def test_ambiguous_commas_follow_the_file(tmp_path):
    """'1,234' alone fits both readings. Another column of the file that is clearly written one
    way decides; otherwise a ';' file is European (decimal comma), anything else uses thousands
    separators. A leading '0,' is never a thousands separator."""
    eu = tmp_path / "eu.csv"
    eu.write_text("id;gewicht;umsatz\n1;1,234;1,234\n2;2,500;2,000\n")
    t = read_table(eu)
    assert t.decimal_comma == ("gewicht", "umsatz")
    assert list(t.frame["gewicht"]) == [1.234, 2.5]
    tab = tmp_path / "gewicht.tsv"
    tab.write_text("kunde\tgewicht_kg\tbesuche\nK1\t0,750\t7,5\nK2\t1,250\t8\nK3\t2,000\t3,5\n")
    t = read_table(tab)
    assert t.decimal_comma == ("gewicht_kg", "besuche") and t.thousands_comma == ()
    assert list(t.frame["gewicht_kg"]) == [0.75, 1.25, 2.0]
    us = tmp_path / "us.tsv"
    us.write_text("id\tspend\tbalance\n1\t1,234\t1,234.50\n2\t2,500\t-12,000.00\n")
    t = read_table(us)
    assert t.thousands_comma == ("spend", "balance")
    assert list(t.frame["spend"]) == [1234.0, 2500.0]
    assert list(t.frame["balance"]) == [1234.5, -12000.0]


def test_comma_files_keep_quoted_lists_as_text(tmp_path):
    """In a ',' file a quoted "1,3" is a list of answers; a quoted "1,234" is a thousand."""
    p = tmp_path / "survey.csv"
    p.write_text(
        'id,fav_days,spend,self\n1,"1,3","1,234","2,500"\n2,"2,5","950","1,000"\n3,"4","12,000","7"\n'
    )
    t = read_table(p)
    assert list(t.frame["fav_days"]) == ["1,3", "2,5", "4"]
    assert t.thousands_comma == ("spend", "self")  # a column named 'self' is a column like any
    assert list(t.frame["spend"]) == [1234.0, 950.0, 12000.0]
    assert list(t.frame["self"]) == [2500.0, 1000.0, 7.0]


# ----------------------------------------------------------------- files as old systems write them


def test_cr_only_line_endings_are_read_as_lines(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes("id,city,amount\r1,Montr\xe9al,3.5\r2,Qu\xe9bec,4\r".encode("cp1252"))
    table = read_table(path)
    assert list(table.frame["city"]) == ["Montréal", "Québec"]
    assert table.frame["amount"].astype(float).tolist() == [3.5, 4.0]
    assert any("carriage return" in n for n in table.notes)


def test_a_headerless_whitespace_file_is_read_with_the_names_given(tmp_path):
    path = tmp_path / "log.txt"
    path.write_bytes(b" 00004 0001 19970101  2   29.33\r\n 00004 0001 19970118  2   29.73\r\n")
    table = read_table(path, names=("cohort", "customer", "date", "cds", "amount"))
    assert list(table.frame.columns) == ["cohort", "customer", "date", "cds", "amount"]
    assert list(table.frame["customer"]) == ["0001", "0001"]  # ids keep their zeros
    assert len(table.frame) == 2
    assert any("spaces" in n for n in table.notes) and any("no header" in n for n in table.notes)


def test_a_headerless_file_without_names_is_refused_in_one_line(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("1 19970101 2 29.33\n2 19970118 2 29.73\n")
    with pytest.raises(InputError, match="no header row.*--names"):
        read_table(path)


def test_names_that_do_not_fit_the_columns_are_refused(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("1 19970101 2 29.33\n")
    with pytest.raises(InputError, match="has 4 columns but 2 names"):
        read_table(path, names=("a", "b"))
