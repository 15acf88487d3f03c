"""CSV text of a table, column at a time with Arrow: the bytes pandas' `to_csv` would write.

A helper of the deliver stage (no pipeline logic). pandas formats every value in Python (about
3 s for the 1M-row assignments.csv, 30 s at 10M); here each column becomes its CSV text with
vectorised Arrow kernels. The output is byte for byte what `deliver`'s pandas writer produces
(`to_csv(index=False, lineterminator="\\n", float_format="%.6g")` after formula neutralising),
which the tests check on adversarial text and on millions of floats:

- text: spreadsheet formulas neutralised first (a leading ``= + - @ \\t \\r | %`` gets a
  ``'``), then quoted as Python's csv module does (only when the field holds ``,``, ``"`` or a
  newline, with ``"`` doubled); missing values are empty fields;
- integers as digits; floats as ``"%.6g" % x`` (exactly: values whose rounding is not certain in
  float arithmetic, zeros, non-finite and very large or small values are formatted by Python);
- categories of text (the segment names) as their text, each category's field made once;
- anything else (booleans, dates, other categories, mixed objects) is not handled (`handles`
  says so) and the caller uses pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FORMULA_RE = r"^[=+\-@\t\r|%]"  # the characters of fmt.FORMULA_START, anchored
NEEDS_QUOTES_RE = '[,"\\n]'  # what makes Python's csv writer quote a field (delimiter ",")
_POW10 = np.array([10.0**j for j in range(-4, 10)])  # the doubles nearest 1e-4 .. 1e9


def _product_error(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """a * b - p exactly, for p = fl(a * b) (Dekker's two-product with Veltkamp splitting)."""
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    error: np.ndarray = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return error


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = 134217729.0 * a  # 2**27 + 1
    hi = c - (c - a)
    return hi, a - hi


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _pow10(e: np.ndarray) -> np.ndarray:
    powers: np.ndarray = _POW10[e + 4]
    return powers


def g6(x: np.ndarray) -> pa.Array:
    """`"%.6g" % v` for every value (NaN -> null), as an Arrow string array.

    Vectorised for values printed without an exponent (1e-4 <= |v| < 999999.5): the six
    significant digits are |v| * 10**(5 - e) rounded to an integer, e the decimal exponent. The
    power of ten is exact and the product is off by at most half an ulp (< 1e-10 here), which
    can only matter next to a half: there the product's exact error decides (see
    `_product_error`), so the rounding is that of the exact binary value, as in Python's
    correctly rounded "%.6g". Everything else is formatted by Python itself.
    """
    with np.errstate(all="ignore"):
        return _g6(np.asarray(x, dtype=np.float64))


def _g6(x: np.ndarray) -> pa.Array:
    n = len(x)
    ax = np.abs(x)
    fast = np.isfinite(ax) & (ax >= 1e-4) & (ax < 999_999.5)
    e = np.zeros(n, dtype=np.int64)
    e[fast] = np.floor(np.log10(ax[fast])).astype(np.int64)
    np.clip(e, -4, 5, out=e)
    # log10 can be off by one next to a power of ten: compare with the powers themselves (exact
    # for 10**j, j >= 0; the doubles nearest 10**-1..10**-4 lie above them, so `<` is exact too).
    up = fast & (e < 5) & (ax >= _pow10(np.minimum(e + 1, 9)))
    e[up] += 1
    down = fast & (ax < _pow10(e))
    e[down] -= 1
    fast &= (e >= -4) & (e <= 5)
    e = np.clip(e, -4, 5)
    power = _pow10(5 - e)
    m = ax * power
    low = np.floor(m)
    r = np.rint(m)
    # Near a half, the rounding of the product itself could decide: add its exact error
    # (Dekker's two-product) to tell above, below or exactly on the half (then half-even, as
    # Python's correctly rounded formatting does).
    near = np.flatnonzero(fast & (np.abs(m - low - 0.5) < 1e-6))
    if len(near):
        above = (m[near] - low[near] - 0.5) + _product_error(ax[near], power[near], m[near])
        r[near] = np.where(above > 0, low[near] + 1, np.where(above < 0, low[near], r[near]))
    r = r.astype(np.int64)
    carry = r >= 1_000_000
    r[carry] //= 10
    e[carry] += 1
    fast &= e <= 5
    r = np.where(fast, r, 100_000)
    e = np.where(fast, e, 0)
    d = 5 - e  # decimals before stripping trailing zeros
    scale = _pow10(d).astype(np.int64)
    int_part = pa.array(r // scale).cast(pa.large_string())
    # str(10**d + frac)[1:] is frac zero-padded to d digits (empty for d = 0).
    frac_text = pc.utf8_slice_codeunits(pa.array(scale + r % scale).cast(pa.large_string()), 1)
    frac_text = pc.utf8_rtrim(frac_text, characters="0")
    has_frac = pc.greater(pc.utf8_length(frac_text), 0)
    text = pc.if_else(has_frac, pc.binary_join_element_wise(int_part, frac_text, _s(".")), int_part)
    negative = pa.array(np.signbit(x) & fast)
    text = pc.if_else(negative, pc.binary_join_element_wise(_s("-"), text, _s("")), text)
    slow = ~fast & ~np.isnan(x)
    if slow.any():
        values = pa.array([f"{v:.6g}" for v in x[slow].tolist()], type=pa.large_string())
        text = pc.replace_with_mask(text, pa.array(slow), values)
    if np.isnan(x).any():
        text = pc.if_else(pa.array(np.isnan(x)), pa.scalar(None, pa.large_string()), text)
    return text


def text_field(values: pa.Array) -> pa.Array:
    """Untrusted text as CSV fields: formulas neutralised, then quoted where csv would."""
    values = values.cast(pa.large_string())
    formula = pc.match_substring_regex(values, FORMULA_RE)
    values = pc.if_else(formula, pc.binary_join_element_wise(_s("'"), values, _s("")), values)
    quote = pc.match_substring_regex(values, NEEDS_QUOTES_RE)
    if pc.any(quote).as_py():
        escaped = pc.replace_substring(values, '"', '""')
        quoted = pc.binary_join_element_wise(_s('"'), escaped, _s('"'), _s(""))
        values = pc.if_else(quote, quoted, values)
    return values


def handles(series: pd.Series) -> bool:
    """Whether `column_text` writes this column: text, integers or floats (not booleans)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.api.types.is_string_dtype(dtype.categories.dtype) or (
            pd.api.types.infer_dtype(dtype.categories, skipna=True) in ("string", "empty")
        )
    if pd.api.types.is_bool_dtype(dtype):
        return False
    if pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    return pd.api.types.is_string_dtype(dtype)


def column_text(series: pd.Series) -> pa.Array:
    """One column's CSV fields (null = empty field); the column must pass `handles`."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        fields = text_field(pa.array(dtype.categories.astype(object), type=pa.large_string()))
        codes = series.cat.codes.to_numpy()
        return fields.take(pa.array(codes, mask=codes < 0))
    if pd.api.types.is_integer_dtype(dtype):
        return pa.array(series, from_pandas=True).cast(pa.large_string())
    if pd.api.types.is_float_dtype(dtype):
        return g6(series.to_numpy(dtype=np.float64, na_value=np.nan))
    values = pa.array(series, type=pa.large_string(), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return text_field(values)


def rows_text(columns: list[pa.Array]) -> bytes:
    """The fields joined into CSV lines ("," between fields, "\\n" after each row)."""
    rows = pc.binary_join_element_wise(
        *columns, _s(","), null_handling="replace", null_replacement=""
    )
    lines = pc.binary_join_element_wise(rows, _s(""), _s("\n"))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return b""
    lines = lines.cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    text: bytes = lines.buffers()[2][start:end].to_pybytes()
    return text
