"""Code 128 symbols through python-barcode's code set, with the shortest choice of subsets.

python-barcode (``barcode.charsets.code128``) supplies what the standard fixes: every
symbol value's bar and space pattern (the stop with its final bar), the start and shift
values, and the values of the characters of subsets B and C. Nothing of it is copied here.

Two things stay ours. Where to switch between subsets B and C: python-barcode switches
greedily (to C for a run of four or more digits), which for about one sample ID in 400
makes the symbol a value longer than it need be (48 of 20,000 random IDs, measured), so a
small dynamic programme picks the shortest symbol, the same length as reportlab's choice
or shorter; the tests check our modules against python-barcode's own wherever the two
choose the same subsets. And the symbol is kept as values, not one module string, so the
PDF and ZPL renderers share the exact module count (for centring and fit checks) and the
PDF renderer can cache each value's bars as ready-formatted operators.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType


def _load_code_set() -> ModuleType:
    """python-barcode's ``barcode.charsets.code128``, read without running ``import barcode``.

    The package's ``__init__`` imports every symbology and its image writer, and with it
    Pillow's FreeType binding: 2.2 MB more resident memory (measured) in every process that
    prints a label, for tables that are plain data. The module only imports ``string``, so
    it is loaded from its file on its own; should a later python-barcode move it, the
    ordinary import is used instead.
    """
    name = "barcode.charsets.code128"
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec("barcode")
    if package is None:
        raise ImportError("python-barcode is not installed: pip install python-barcode")
    for folder in package.submodule_search_locations or ():
        path = Path(folder) / "charsets" / "code128.py"
        spec = importlib.util.spec_from_file_location(f"{__name__}._python_barcode", path)
        if path.is_file() and spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except ImportError:
                break
            return module
    return importlib.import_module(name)


_code_set = _load_code_set()

START_B = _code_set.START_CODES["B"]
START_C = _code_set.START_CODES["C"]
CODE_B = _code_set.C["TO_B"]  # switch to subset B (value as seen from subset C)
CODE_C = _code_set.B["TO_C"]  # switch to subset C (value as seen from subset B)
STOP = len(_code_set.CODES)  # 106: the value after the last data/start value

MODULES_PER_SYMBOL = 11
STOP_MODULES = 13
QUIET_ZONE_MODULES = 10  # ISO/IEC 15417 minimum on each side


def _bar_runs(modules: str) -> tuple[tuple[int, int], ...]:
    """(left edge, width) of each bar in a "1" (bar) / "0" (space) module string."""
    runs: list[tuple[int, int]] = []
    x = 0
    while x < len(modules):
        if modules[x] == "1":
            start = x
            while x < len(modules) and modules[x] == "1":
                x += 1
            runs.append((start, x - start))
        else:
            x += 1
    return tuple(runs)


# Each value's bars in modules from the symbol's left edge. python-barcode spells the stop
# without the 2-module bar that ends every symbol (it appends "11" when building).
SYMBOL_BARS: tuple[tuple[tuple[int, int], ...], ...] = tuple(
    _bar_runs(modules) for modules in (*_code_set.CODES, _code_set.STOP + "11")
)


def symbol_modules(symbol_count: int) -> int:
    """Width in modules of a symbol made of ``symbol_count`` values incl. start/check/stop."""
    return (symbol_count - 1) * MODULES_PER_SYMBOL + STOP_MODULES


def max_modules_for_length(length: int) -> int:
    """Widest possible symbol for any printable-ASCII text of ``length`` characters.

    Subset B throughout is the worst case: switching to C only happens when it saves.
    """
    return symbol_modules(length + 3)


# Subset C can only save a symbol on a run of four or more digits (four in the middle cost
# a switch in and out, a tie; at either end they save one) or on text that is just two
# digits. Without either, the shortest symbol is subset B throughout, which the search below
# also picks, as it stays in B on a tie; most sample IDs take this shortcut.
_WORTH_SUBSET_C = re.compile(r"[0-9]{4}|^[0-9]{2}$")


def _is_digit_pair(text: str, index: int) -> bool:
    return index + 1 < len(text) and text[index] in "0123456789" and text[index + 1] in "0123456789"


def encode(text: str) -> tuple[int, ...]:
    """Symbol values (start, data, check, stop) for printable ASCII ``text``.

    Uses subsets B and C only (A adds nothing for printable text) and chooses where to
    switch by dynamic programming, so digit runs are packed two per symbol exactly when
    that makes the whole symbol shorter.
    """
    if not text or not all(" " <= char <= "\x7f" for char in text):
        raise ValueError(f"Code 128 subset B/C cannot encode {text!r}.")
    subset_b = _code_set.B
    if _WORTH_SUBSET_C.search(text) is None:
        return _finish([START_B, *[subset_b[char] for char in text]])
    length = len(text)
    infinity = length * 3 + 10
    # cost[i][s]: fewest symbols to encode text[i:] when currently in subset s (0=B, 1=C).
    cost = [[0, 0] for _ in range(length + 1)]
    for i in range(length - 1, -1, -1):
        pair = _is_digit_pair(text, i)
        stay_b = 1 + cost[i + 1][0]
        to_c = 2 + cost[i + 2][1] if pair else infinity
        stay_c = 1 + cost[i + 2][1] if pair else infinity
        to_b = 2 + cost[i + 1][0]
        cost[i][0] = min(stay_b, to_c)
        cost[i][1] = min(stay_c, to_b)

    subset = 1 if _is_digit_pair(text, 0) and cost[0][1] < cost[0][0] else 0
    values = [START_C if subset else START_B]
    i = 0
    while i < length:
        pair = _is_digit_pair(text, i)
        if subset == 0:
            if pair and 2 + cost[i + 2][1] < 1 + cost[i + 1][0]:
                values.append(CODE_C)
                subset = 1
                continue
            values.append(subset_b[text[i]])
            i += 1
        else:
            if pair and 1 + cost[i + 2][1] <= 2 + cost[i + 1][0]:
                values.append(int(text[i : i + 2]))  # subset C's value for a digit pair
                i += 2
                continue
            values.append(CODE_B)
            subset = 0
    return _finish(values)


def _finish(values: list[int]) -> tuple[int, ...]:
    """The values with the check value (start plus position-weighted data, mod 103) and stop."""
    checksum = values[0] + sum(weight * value for weight, value in enumerate(values) if weight)
    return (*values, checksum % 103, STOP)


def bars(values: Sequence[int]) -> list[tuple[int, int]]:
    """(left edge, width) of every bar, in modules from the first bar's left edge."""
    result: list[tuple[int, int]] = []
    for index, value in enumerate(values):
        offset = index * MODULES_PER_SYMBOL
        result.extend((offset + x, width) for x, width in SYMBOL_BARS[value])
    return result
