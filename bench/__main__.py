"""Run every benchmark and rewrite bench/RESULTS.md with the machine, the date and the figures."""

from __future__ import annotations

import importlib
import os
import platform
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}"
    )


def with_note(section: str, note: str) -> str:
    """The section with a line under its title saying when (and how) it was run."""
    title, _, rest = section.partition("\n")
    return f"{title}\n\n{note}\n{rest}" if rest else f"{title}\n\n{note}"


def replace_sections(text: str, sections: list[str]) -> str:
    """``text`` with each ``## title`` section of ``sections`` put in place of the one with
    the same title (everything up to the next ``## ``), or appended when it is new."""
    head, *old = text.split("\n## ")
    parts = {part.split("\n", 1)[0]: part for part in old}
    for section in sections:
        body = section.removeprefix("## ")
        parts[body.split("\n", 1)[0]] = body
    kept = "\n\n".join("## " + part.strip("\n") for part in parts.values())
    return f"{head.rstrip()}\n\n{kept}\n"


def main(selected: list[str]) -> int:
    sys.path.insert(0, str(BENCH_DIR.parent))
    modules = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    if selected:
        modules = [m for m in modules if any(s in m for s in selected)]
    # A benchmark marked EXPLICIT_ONLY (the 10M-tube run: half an hour) runs only when named
    # in full, never as part of `make bench` or of a selection that merely contains its name.
    modules = [
        m
        for m in modules
        if not getattr(importlib.import_module(f"bench.{m}"), "EXPLICIT_ONLY", False)
        or m.removeprefix("bench_") in selected
        or m in selected
    ]
    sections = []
    failed = []
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        print(f"running {name} …", flush=True)
        title = (module.__doc__ or name).strip().splitlines()[0]
        try:
            rows = module.run()
        except Exception as error:  # one broken benchmark must not cost the others' figures
            traceback.print_exc()
            failed.append(name)
            sections.append(f"## {title}\n\n**This benchmark failed:** `{error!r}`")
            continue
        lines = [f"## {title}", ""]
        if hasattr(module, "command"):  # a run whose figures depend on how it was started
            lines += [f"Made by `{module.command()}`.", ""]
        lines += [
            "| figure | value | target | baseline | ratio |",
            "|---|---|---|---|---|",
        ]
        for row in rows:
            value = f"{row['value']} {row.get('unit', '')}".strip()
            baseline = row.get("baseline")
            baseline_text = "" if baseline is None else f"{baseline} {row.get('unit', '')}".strip()
            ratio = row.get("ratio")
            lines.append(
                f"| {row['figure']} | {value} | {row.get('target', '')} | {baseline_text} | "
                f"{'' if ratio is None else ratio} |"
            )
        sections.append("\n".join(lines))
    now = datetime.now(UTC)
    if selected and RESULTS.exists():
        # `python -m bench races`: only the sections run are replaced (or added); the others,
        # and the header of the full run that wrote them, stay as they were.
        run = " ".join(selected)
        note = f"Section rewritten by `python -m bench {run}` on {now:%Y-%m-%d %H:%M} UTC."
        text = replace_sections(RESULTS.read_text(), [with_note(s, note) for s in sections])
        RESULTS.write_text(text)
    else:
        header = [
            "# Benchmark results",
            "",
            f"Written by `make bench` on {now:%Y-%m-%d %H:%M} UTC.",
            f"Machine: {machine()}.",
            "",
            "",
        ]
        RESULTS.write_text("\n".join(header) + "\n\n".join(sections) + "\n")
    print(RESULTS.read_text())
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
