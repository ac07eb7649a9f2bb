"""A small Code 128 encoder that picks the shortest symbol.

Written here rather than borrowed from reportlab so the PDF and ZPL renderers share the
exact module count (for centring and fit checks), and so the PDF renderer can cache each
symbol's bars as ready-formatted operators instead of drawing them one rect at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

# Bar/space widths in modules for symbol values 0..106 (106 = stop, which has a final
# 2-module bar). Checked against reportlab's table in the tests.
PATTERNS: tuple[str, ...] = (
    '212222', '222122', '222221', '121223', '121322', '131222', '122213', '122312',
    '132212', '221213', '221312', '231212', '112232', '122132', '122231', '113222',
    '123122', '123221', '223211', '221132', '221231', '213212', '223112', '312131',
    '311222', '321122', '321221', '312212', '322112', '322211', '212123', '212321',
    '232121', '111323', '131123', '131321', '112313', '132113', '132311', '211313',
    '231113', '231311', '112133', '112331', '132131', '113123', '113321', '133121',
    '313121', '211331', '231131', '213113', '213311', '213131', '311123', '311321',
    '331121', '312113', '312311', '332111', '314111', '221411', '431111', '111224',
    '111422', '121124', '121421', '141122', '141221', '112214', '112412', '122114',
    '122411', '142112', '142211', '241211', '221114', '413111', '241112', '134111',
    '111242', '121142', '121241', '114212', '124112', '124211', '411212', '421112',
    '421211', '212141', '214121', '412121', '111143', '111341', '131141', '114113',
    '114311', '411113', '411311', '113141', '114131', '311141', '411131', '211412',
    '211214', '211232', '2331112',
)  # fmt: skip

START_B = 104
START_C = 105
STOP = 106
CODE_B = 100  # switch to subset B (value as seen from subset C)
CODE_C = 99  # switch to subset C (value as seen from subset B)

MODULES_PER_SYMBOL = 11
STOP_MODULES = 13
QUIET_ZONE_MODULES = 10  # ISO/IEC 15417 minimum on each side


def symbol_modules(symbol_count: int) -> int:
    """Width in modules of a symbol made of ``symbol_count`` values incl. start/check/stop."""
    return (symbol_count - 1) * MODULES_PER_SYMBOL + STOP_MODULES


def max_modules_for_length(length: int) -> int:
    """Widest possible symbol for any printable-ASCII text of ``length`` characters.

    Subset B throughout is the worst case: switching to C only happens when it saves.
    """
    return symbol_modules(length + 3)


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
            values.append(ord(text[i]) - 32)
            i += 1
        else:
            if pair and 1 + cost[i + 2][1] <= 2 + cost[i + 1][0]:
                values.append(int(text[i : i + 2]))
                i += 2
                continue
            values.append(CODE_B)
            subset = 0
    checksum = values[0] + sum(weight * value for weight, value in enumerate(values) if weight)
    values.append(checksum % 103)
    values.append(STOP)
    return tuple(values)


def bars(values: Sequence[int]) -> list[tuple[int, int]]:
    """(left edge, width) of every bar, in modules from the first bar's left edge."""
    result: list[tuple[int, int]] = []
    x = 0
    for value in values:
        for index, width_char in enumerate(PATTERNS[value]):
            width = ord(width_char) - 48
            if index % 2 == 0:  # patterns alternate bar, space, bar, ...
                result.append((x, width))
            x += width
    return result
