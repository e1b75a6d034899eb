"""Where results go: outputs are checked before any work starts, written atomically, and never
replace something accelsim did not write.

- A single output file (``simulate --json``, ``sweep --csv``, ``plot --out``) is refused if it
  already exists, unless the caller passes ``force=True`` (the CLI's ``--force``). It is written
  to a temporary file beside it and renamed into place, so a reader never sees half a file.
  Special files (``/dev/null``, ``/dev/stdout``) are written directly.
- A run directory (``codesign --out``) belongs to accelsim when it holds the manifest
  `MANIFEST_NAME` listing every file in it. A missing or empty directory is fine; a directory of
  ours is replaced as a whole by the next run; any other non-empty directory -- or one of ours
  where someone added files -- is refused. The new run is written into a hidden sibling staging
  directory and swapped in by two renames, so the old results stay complete until the new ones
  are.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from workloads.quoting import short

__all__ = [
    "MANIFEST_NAME",
    "OutputError",
    "atomic_output",
    "check_output_file",
    "check_run_directory",
    "run_directory",
    "write_text_atomic",
]

MANIFEST_NAME = ".accelsim-run.json"


class OutputError(ValueError):
    """An output path that cannot or may not be written; the message names it and says why."""


def _check_parent(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable directory (we create the rest)."""
    ancestor = path.parent
    while not ancestor.exists():
        if ancestor == ancestor.parent:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{path}: cannot write {what}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write {what}: directory {ancestor} is not writable")


def _is_special(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def check_output_file(path: str | os.PathLike[str], *, force: bool = False, what: str = "the output") -> Path:
    """``path`` as a Path if it may be written; else :class:`OutputError` (call before the work)."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{target}: cannot write {what}: it is a directory")
    if _is_special(target):
        return target
    _check_parent(target, what)
    if target.exists() and not force:
        raise OutputError(f"{target}: already exists; not overwriting it (pass --force to replace it)")
    return target


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it is renamed to ``path``.
    On any failure the temporary file is removed and ``path`` is left as it was."""
    target = Path(path)
    if _is_special(target):
        yield target
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    with atomic_output(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def _manifest_files(directory: Path) -> list[str] | None:
    try:
        listed = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return listed if isinstance(listed, list) and all(isinstance(f, str) for f in listed) else None


def _relative_files(directory: Path) -> list[str]:
    return sorted(
        str(p.relative_to(directory))
        for p in directory.rglob("*")
        if not p.is_dir() and p.name != MANIFEST_NAME
    )


def check_run_directory(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path if a run may be written there (see the module docstring); else
    :class:`OutputError`. Call it before the work, so a bad ``--out`` fails in a second."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: cannot write the results directory: it is a file")
    _check_parent(out, "the results directory")
    if not out.is_dir() or not any(out.iterdir()):
        return out
    listed = _manifest_files(out)
    if listed is None:
        raise OutputError(
            f"{out}: not empty and not written by accelsim (no {MANIFEST_NAME}); not replacing "
            "it -- choose a new or empty directory"
        )
    foreign = sorted(set(_relative_files(out)) - set(listed))
    if foreign:
        raise OutputError(
            f"{out}: holds files an earlier accelsim run did not write ({short(foreign)}); "
            "not replacing it -- move them or choose another directory"
        )
    return out


@contextlib.contextmanager
def run_directory(path: str | os.PathLike[str], *, command: str) -> Iterator[Path]:
    """Yield an empty staging directory; when the block succeeds it replaces ``path`` (checked with
    `check_run_directory` first and again at the swap), with a manifest of the files written."""
    out = check_run_directory(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    staging.mkdir()
    try:
        yield staging
        manifest = {"written_by": f"accelsim {command}", "files": _relative_files(staging)}
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        check_run_directory(out)
        retired = out.with_name(f".{out.name}.{secrets.token_hex(4)}.old")
        if out.exists():
            os.replace(out, retired)
        os.replace(staging, out)
        shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
