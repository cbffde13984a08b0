"""Summarize a py-spy ``--format raw`` (collapsed stacks) profile: where the server's CPU goes.

    .venv/bin/python -m bench.pyspy_summary PROFILE [--top 30] [--match adapters/]

Prints inclusive and self sample shares per function (each function counted once per stack),
plus the share of a few groups (HTTP server, framework, auth, SQL, storage, JSON Schema...).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

GROUPS = {
    "uvicorn/h11 (HTTP parsing, ASGI)": ("uvicorn/", "h11/"),
    "litestar (routing, DI, (de)serialization)": ("litestar/",),
    "sqlalchemy + aiosqlite (auth, artifact index)": ("sqlalchemy/", "aiosqlite/", "sqlite3"),
    "blob store (artifact file write)": ("adapters/blobs/",),
    "jsonschema (validation)": ("jsonschema/",),
    "PIL (image decode)": ("PIL/",),
    "logging": ("logging/", "entrypoints/logs.py"),
    "asyncio event loop": ("asyncio/",),
    "worker threads (to_thread / executors)": ("concurrent/futures/thread.py",),
}
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:]*)(?::\d+)?\)$")


def parse(path: str) -> list[tuple[list[str], int]]:
    stacks = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            frames, _, count = line.rpartition(" ")
            stacks.append((frames.split(";"), int(count)))
    return stacks


def label(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m.group('func')} ({file})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--match", default="", help="only functions whose file contains this")
    args = p.parse_args(argv)
    stacks = parse(args.profile)
    total = sum(c for _, c in stacks) or 1
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    for frames, count in stacks:
        labels = [label(f) for f in frames]
        for name in set(labels):
            inclusive[name] += count
        self_time[labels[-1]] += count
        joined = ";".join(frames)
        for group, needles in GROUPS.items():
            if any(n in joined for n in needles):
                groups[group] += count
    print(f"{total} samples")
    print("\ngroups (inclusive; a stack can be in several):")
    for group, count in groups.most_common():
        print(f"  {100 * count / total:5.1f}%  {group}")
    print(f"\ntop {args.top} inclusive:")
    for name, count in [(n, c) for n, c in inclusive.most_common() if args.match in n][: args.top]:
        print(f"  {100 * count / total:5.1f}%  {name}")
    print(f"\ntop {args.top} self:")
    for name, count in [(n, c) for n, c in self_time.most_common() if args.match in n][: args.top]:
        print(f"  {100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
