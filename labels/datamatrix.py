"""DataMatrix module matrices from zxing-cpp.

reportlab's own ECC200 widget always draws 44 x 44 modules, far too dense for a cap
label; zxing-cpp picks the smallest ECC 200 symbol (14 x 14 for a sample ID), and we
draw its modules ourselves at a whole number of printer dots.
"""

from __future__ import annotations

from dataclasses import dataclass

import zxingcpp


@dataclass(frozen=True, slots=True)
class ModuleMatrix:
    rows: int
    columns: int
    # Dark modules merged into horizontal runs: (row, first column, run length).
    dark_runs: tuple[tuple[int, int, int], ...]


def datamatrix(text: str) -> ModuleMatrix:
    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.DataMatrix)
    image = symbol.to_image(scale=1, add_quiet_zones=False)
    view = memoryview(image)  # type: ignore[arg-type]  # zxing-cpp's Image has the buffer protocol
    rows, columns = view.shape or (0, 0)
    pixels = view.tobytes()  # one byte per module, 0 = dark
    runs: list[tuple[int, int, int]] = []
    for row in range(rows):
        line = pixels[row * columns : (row + 1) * columns]
        column = 0
        while column < columns:
            if line[column] == 0:
                start = column
                while column < columns and line[column] == 0:
                    column += 1
                runs.append((row, start, column - start))
            else:
                column += 1
    return ModuleMatrix(rows=rows, columns=columns, dark_runs=tuple(runs))
