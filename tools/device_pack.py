"""Pack a GPU campaign's cells so they come back through the device tool's limits, and
unpack a returned pack into the committed cell store.

    python tools/device_pack.py pack --store DIR [--extra DIR] --out $OUT
    python tools/device_pack.py unpack FOLDER [--into studies/out]

What comes back from a device run: at most 8 files under $OUT, each ≤ 16 MiB, ≤ 64 MiB in
all, no deeper than $OUT/a/b/file, names of letters, digits, '.', '_', '-'. ``pack`` writes
one tar of the store (cells-<mode>/…) and of ``--extra`` folders (a study's report), split
into parts of ≤ 15 MiB (``pack.tar.00`` …), and ``pack.json`` (the parts' SHA-256, what is in
the tar and what was left out); at most ``--max-parts`` parts (4: 60 MiB). Tables and
metadata go in first, then the pictures' pairs, then checkpoints (largest file last); what
does not fit is listed in ``pack.json`` (a cell without its checkpoint comes back whole, but
its next window trains from step 0).

``unpack`` checks every part's hash, then merges: a cell already in the target store is
kept as it is (the committed numbers are never replaced); a new cell's files are copied with
its table last, so a kill mid-merge never leaves a table without its metadata. The extra
folders land in ``<into>/<name>-gpu/``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

MiB = 1 << 20
# tables and metadata, then pictures, then training states: the order of what matters
PRIORITY = (".json", ".parquet", ".csv", ".md", ".png", ".pairs.npz", ".ckpt.npz")


def _rank(path: Path) -> tuple[int, int]:
    name = path.name
    tier = next((i for i, ext in enumerate(PRIORITY) if name.endswith(ext)), len(PRIORITY))
    return tier, path.stat().st_size


def _members(store: Path, extras: list[Path]) -> list[tuple[Path, str]]:
    """(file, name in the tar) for the store and the extra folders, by priority."""
    items = [(p, f"{store.name}/{p.name}") for p in store.iterdir()
             if p.is_file() and not p.name.startswith(".")]  # fmt: skip
    for folder in extras:
        items += [(p, f"extra/{folder.name}/{p.relative_to(folder)}") for p in folder.rglob("*")
                  if p.is_file() and "cells" not in p.parts and p.suffix != ".parquet"]  # fmt: skip
    return sorted(items, key=lambda item: (_rank(item[0]), item[1]))


def pack(store: Path, extras: list[Path], out: Path, part_mib: float = 15,
         max_parts: int = 4) -> dict:  # fmt: skip
    """Write pack.tar.NN parts and pack.json into ``out``; returns the pack's manifest."""
    limit = int(part_mib * MiB) * max_parts
    buf, kept, left = io.BytesIO(), [], []
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, name in _members(store, extras):
            # a member costs its size rounded to 512-byte blocks plus a header
            if buf.tell() + path.stat().st_size + 2048 > limit - 1024:
                left.append(name)
                continue
            tar.add(path, arcname=name)
            kept.append(name)
    data = buf.getvalue()
    part = int(part_mib * MiB)
    parts = []
    for i in range(0, len(data), part):
        name = f"pack.tar.{i // part:02d}"
        (out / name).write_bytes(data[i : i + part])
        parts.append({"name": name, "sha256": hashlib.sha256(data[i : i + part]).hexdigest()})
    manifest = {"parts": parts, "files": kept, "left_out": left, "bytes": len(data)}
    (out / "pack.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _read_parts(folder: Path) -> bytes:
    manifest = json.loads((folder / "pack.json").read_text())
    chunks = []
    for part in manifest["parts"]:
        blob = (folder / part["name"]).read_bytes()
        if hashlib.sha256(blob).hexdigest() != part["sha256"]:
            raise SystemExit(f"{part['name']}: its bytes do not match pack.json; not merged")
        chunks.append(blob)
    return b"".join(chunks)


def _copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def unpack(folder: Path, into: Path, log=print) -> dict:
    """Merge a returned pack into ``into`` (studies/out); returns counts of what moved."""
    data = _read_parts(folder)
    counts = {"cells_new": 0, "cells_kept": 0, "files": 0}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")
        for store in (p for p in tmp.iterdir() if p.name.startswith("cells-")):
            target = into / store.name
            target.mkdir(parents=True, exist_ok=True)
            ids = sorted({p.name.split(".")[0] for p in store.iterdir()})
            for cid in ids:
                if (target / f"{cid}.parquet").exists():
                    counts["cells_kept"] += 1  # the committed cell stays as it is
                    continue
                files = sorted(store.glob(f"{cid}.*"), key=lambda p: p.suffix == ".parquet")
                for f in files:  # the table last: a cell counts as finished once it exists
                    _copy(f, target / f.name)
                    counts["files"] += 1
                counts["cells_new"] += int((target / f"{cid}.parquet").exists())
        for folder_ in (tmp / "extra").glob("*") if (tmp / "extra").exists() else []:
            dest = into / f"{folder_.name}-gpu"
            for f in folder_.rglob("*"):
                if f.is_file():
                    (dest / f.relative_to(folder_)).parent.mkdir(parents=True, exist_ok=True)
                    _copy(f, dest / f.relative_to(folder_))
                    counts["files"] += 1
    log(f"merged into {into}: {counts['cells_new']} new cell(s), {counts['cells_kept']} "
        f"already there kept as they were, {counts['files']} file(s) written")  # fmt: skip
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--extra", type=Path, action="append", default=[])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--part-mib", type=float, default=15)
    p.add_argument("--max-parts", type=int, default=4)
    u = sub.add_parser("unpack")
    u.add_argument("folder", type=Path)
    u.add_argument("--into", type=Path, default=Path(__file__).resolve().parents[1] / "studies"
                   / "out")  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "pack":
        if not args.store.is_dir():
            print(f"--store {args.store}: not a folder", file=sys.stderr)
            return 2
        m = pack(args.store, [e for e in args.extra if e.is_dir()], args.out, args.part_mib,
                 args.max_parts)  # fmt: skip
        print(f"packed {len(m['files'])} file(s), {m['bytes'] / MiB:.1f} MiB in "
              f"{len(m['parts'])} part(s); left out {len(m['left_out'])}")  # fmt: skip
        return 0
    if not (args.folder / "pack.json").exists():
        print(f"{args.folder}: no pack.json (not a returned pack)", file=sys.stderr)
        return 2
    unpack(args.folder, args.into)
    return 0


if __name__ == "__main__":
    sys.exit(main())
