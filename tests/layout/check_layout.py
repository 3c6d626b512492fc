#!/usr/bin/env python3
"""The architecture's rules, checked on the source tree (ARCHITECTURE.md, "Dependency rules").

1. A folder under src/ includes only the folders it may use (the table below).
2. A backend folder (store/<kind>/, source/<kind>/) is included only from inside its parent
   folder: the rest of the code sees it through the seam, so a new backend is a new folder.
3. No file includes another folder's private header (`*_internal.h`).
4. No comparison of a kind string (`kind == "..."`) outside config/ and the two open functions.
5. No source file over 600 lines without a reason written near its top ("Long because").

Known violations, each with the reason it is still there, are listed in known_exceptions.txt
beside this file; a listed line that no longer matches a violation is itself an error, so the
list only shrinks. Exits non-zero naming every other violation with file:line.
"""
import pathlib
import re
import sys

ALLOWED = {
    "common": set(),
    "trace": {"common"},  # spans and their exporter (OTLP/HTTP)
    "config": {"common"},
    "contracts": {"common"},
    "sql": {"common"},
    "gate": {"common", "store"},  # store.h's PendingEvent only: the gate does no I/O
    "metrics": {"common"},
    "gen": {"common"},
    "store": {"common", "sql"},
    "api": {"common", "store"},  # the public library (include/streamview/) over the store seam
    "source": {"common", "config", "contracts", "store"},
    "projection": {"common", "config", "contracts", "sql"},
    "derived": {"common", "config", "projection", "sql"},
    "engine": {"common", "config", "contracts", "derived", "gate", "metrics", "projection",
               "source", "sql", "store", "trace"},
    "server": {"common", "config", "engine", "metrics", "projection", "source", "sql", "store",
               "trace"},
    "cli": {"common", "config", "contracts", "engine", "gen", "metrics", "projection", "server",
            "source", "sql", "store", "trace"},
}
BACKEND_PARENTS = ("store", "source")
KIND_OPEN_FILES = {"src/store/open.cc", "src/source/open.cc"}
MAX_LINES = 600
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/([^"]+)"')
KIND_COMPARE = re.compile(r'\bkind\w*\s*[!=]=\s*"|"\s*[!=]=\s*\w*kind\b')


def check(root: pathlib.Path) -> list[str]:
    problems = []
    src = root / "src"
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".cc", ".h"):
            continue
        rel = path.relative_to(root).as_posix()
        parts = path.relative_to(src).parts
        folder = parts[0]
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            where = f"{rel}:{number}"
            m = INCLUDE.match(line)
            if m:
                target, rest = m.group(1), m.group(2)
                if target != folder and folder in ALLOWED and target in ALLOWED and \
                        target not in ALLOWED[folder]:
                    problems.append(f"{where}: {folder}/ may not include {target}/ ({line.strip()})")
                if target in BACKEND_PARENTS and "/" in rest and folder != target:
                    problems.append(f"{where}: {target}/{rest.split('/')[0]}/ is a backend; "
                                    f"reach it through {target}/'s interface")
                if rest.endswith("_internal.h") and (target != folder):
                    problems.append(f"{where}: includes {target}/'s private header {rest}")
            if KIND_COMPARE.search(line) and folder != "config" and rel not in KIND_OPEN_FILES:
                problems.append(f"{where}: branches on a kind string ({line.strip()})")
        if len(lines) > MAX_LINES and not any("Long because" in l for l in lines[:30]):
            problems.append(f"{rel}: {len(lines)} lines and no 'Long because' reason at its top")
    return problems


def known_exceptions() -> list[tuple[str, str, str]]:
    out = []
    path = pathlib.Path(__file__).with_name("known_exceptions.txt")
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        file, rule, why = (part.strip() for part in line.split("|", 2))
        out.append((file, rule, why))
    return out


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    problems = check(root)
    known = known_exceptions()
    used = set()
    remaining = []
    for p in problems:
        match = next((k for k in known if p.startswith(k[0] + ":") and k[1] in p), None)
        if match is None:
            remaining.append(p)
        else:
            used.add(match)
            print(f"known: {p} -- {match[2]}")
    for k in known:
        if k not in used:
            remaining.append(f"known_exceptions.txt: '{k[0]} | {k[1]}' matches no violation "
                             "any more: remove the line")
    for p in remaining:
        print(p)
    print(f"layout: {len(remaining)} problem(s), {len(used)} known exception(s)")
    return 1 if remaining else 0


if __name__ == "__main__":
    sys.exit(main())
