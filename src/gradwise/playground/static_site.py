"""``gradwise playground --static OUT``: write a static site that runs gradwise in the browser.

The site needs no server of its own: any static file server (``python -m http.server``, GitHub
Pages, a bucket) serves it, and it requests nothing outside its folder. It holds

- the Pyodide runtime (CPython compiled to WebAssembly), taken from the npm package
  ``pyodide@VERSION`` (``npm pack``, cached in a folder the user can name) or from an official
  full Pyodide distribution (a folder or archive) the user points at;
- the Pyodide build of NumPy, verified by its sha256 against that Pyodide version's
  ``pyodide-lock.json`` (a mismatch stops the build, naming both hashes);
- a small pure-Python gradwise wheel built from the source tree: every module that needs only
  NumPy (no matplotlib, no lab figures, no server, no command line);
- the engine page (``index.html`` + ``worker.js``): it trains the spiral with ``gw.fit`` in a
  Web Worker and shows the loss. The playground page itself moves onto the Worker once the
  session is a state machine stepped from outside (issue 21's next step).

Only the standard library is used here, so that the build runs wherever gradwise is installed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GradwiseError

__all__ = ["PYODIDE_VERSION", "RUNTIME_FILES", "SiteError", "build_site", "build_wheel",
           "numpy_wheel_url", "site_report", "verify_sha256", "wheel_members"]

#: The Pyodide version the site is built with: Python 3.12.7 and NumPy 2.0.2.
PYODIDE_VERSION = "0.27.7"

#: The runtime files a page needs (the npm package's other files are maps and type stubs).
RUNTIME_FILES = ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm",
                 "python_stdlib.zip", "pyodide-lock.json")

#: The engine page and its worker, copied into the site.
WEBAPP = Path(__file__).with_name("webapp")
WEBAPP_FILES = ("index.html", "worker.js", "engine_check.py")

_SRC = Path(__file__).resolve().parents[1]  # src/gradwise

#: Modules left out of the browser wheel: the command line and jobs, servers, the interop with
#: other frameworks, this builder. Any module importing one of _HEAVY is left out as well.
_EXCLUDE = ("cli.py", "sweep.py", "jobs/", "interop/", "playground/server.py",
            "playground/command.py", "playground/static_site.py", "playground/static/",
            "playground/webapp/")
_HEAVY = re.compile(r"^\s*(?:import|from)\s+(?:matplotlib|PIL|starlette|uvicorn|websockets"
                    r"|\.style|\.landscape_plots)\b", re.MULTILINE)


class SiteError(GradwiseError):
    """The static site cannot be built (a missing source, a hash that does not match)."""


def numpy_wheel_url(version: str, file_name: str) -> str:
    """The official CDN address of a wheel of Pyodide ``version`` (jsDelivr, Pyodide's own)."""
    return f"https://cdn.jsdelivr.net/pyodide/v{version}/full/{file_name}"


def verify_sha256(data: bytes, expected: str, what: str) -> None:
    """Stop with :class:`SiteError` unless ``sha256(data) == expected`` (hex)."""
    got = hashlib.sha256(data).hexdigest()
    if got != expected.lower():
        raise SiteError(f"{what}: sha256 mismatch: pyodide-lock.json says {expected}, the file "
                        f"has {got}; refusing to build with it")


# ----------------------------------------------------------------------------- the runtime


def _from_npm(version: str, cache: Path) -> Path:
    """The extracted npm package ``pyodide@version`` (``npm pack``, cached in ``cache``)."""
    folder = cache / f"pyodide-{version}"
    if all((folder / f).is_file() for f in RUNTIME_FILES):
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    tgz = cache / f"pyodide-{version}.tgz"
    if not tgz.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise SiteError("npm is not installed: install Node.js (npm) to fetch the Pyodide "
                            "runtime, or pass --pyodide-dist with an official Pyodide "
                            "distribution")
        with tempfile.TemporaryDirectory(dir=cache) as tmp:  # builds may run side by side
            proc = subprocess.run([npm, "pack", f"pyodide@{version}", "--pack-destination",
                                   tmp, "--silent"], capture_output=True, text=True,
                                  timeout=600, check=False)
            packed = Path(tmp) / tgz.name
            if proc.returncode != 0 or not packed.is_file():
                raise SiteError(f"npm pack pyodide@{version} failed: "
                                f"{(proc.stderr or proc.stdout).strip()[-500:]}")
            packed.replace(tgz)
    return _extract_runtime(tgz, folder)


def _wanted(base: str) -> bool:
    """The files of a distribution the site needs: the runtime and the NumPy wheel."""
    return base in RUNTIME_FILES or (base.startswith("numpy-") and base.endswith(".whl"))


def _extract_runtime(archive: Path, folder: Path) -> Path:
    """Extract the runtime files and the NumPy wheel of a tar/zip archive into ``folder``
    (one pass: a full distribution's .tar.bz2 is read once)."""
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        found: set[str] = set()
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name in z.namelist():
                    base = name.rsplit("/", 1)[-1]
                    if _wanted(base) and base not in found:
                        (tmp / base).write_bytes(z.read(name))
                        found.add(base)
        else:
            try:
                with tarfile.open(archive, "r|*") as t:
                    for member in t:
                        base = member.name.rsplit("/", 1)[-1]
                        f = t.extractfile(member) if member.isfile() else None
                        if f is not None and _wanted(base) and base not in found:
                            (tmp / base).write_bytes(f.read())
                            found.add(base)
            except tarfile.TarError as exc:
                raise SiteError(f"{archive} is neither a zip nor a tar archive ({exc})") from None
        missing = [f for f in RUNTIME_FILES if f not in found]
        if missing:
            raise SiteError(f"{archive} is not a Pyodide distribution: it lacks "
                            f"{', '.join(missing)}")
        try:
            tmp.rename(folder)
        except OSError:  # another build extracted the same archive first: use its folder
            if not all((folder / f).is_file() for f in RUNTIME_FILES):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def _archive_members(archive: Path) -> list[str]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return [n for n in z.namelist() if not n.endswith("/")]
    try:
        with tarfile.open(archive) as t:
            return [m.name for m in t.getmembers() if m.isfile()]
    except tarfile.TarError as exc:
        raise SiteError(f"{archive} is neither a zip nor a tar archive ({exc})") from None


def _read_member(archive: Path, name: str) -> bytes:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return z.read(name)
    with tarfile.open(archive) as t:
        f = t.extractfile(name)
        if f is None:
            raise SiteError(f"{archive}: {name} is not a file")
        return f.read()


def _from_dist(dist: Path, cache: Path) -> Path:
    """A full Pyodide distribution: a folder holding the runtime, or an archive of one."""
    if dist.is_dir():
        hits = [p.parent for p in dist.rglob("pyodide-lock.json")]
        if not hits:
            raise SiteError(f"{dist} holds no pyodide-lock.json: not a Pyodide distribution")
        folder = min(hits, key=lambda p: len(p.parts))
        missing = [f for f in RUNTIME_FILES if not (folder / f).is_file()]
        if missing:
            raise SiteError(f"{folder} is not a Pyodide distribution: it lacks "
                            f"{', '.join(missing)}")
        return folder
    if not dist.is_file():
        raise SiteError(f"--pyodide-dist {dist}: no such folder or archive")
    digest = hashlib.sha256(dist.read_bytes()).hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    folder = cache / f"dist-{digest}"
    if all((folder / f).is_file() for f in RUNTIME_FILES):
        return folder
    return _extract_runtime(dist, folder)


def _lock(runtime: Path, version: str | None) -> dict[str, object]:
    lock = json.loads((runtime / "pyodide-lock.json").read_text(encoding="utf-8"))
    got = lock.get("info", {}).get("version")
    if version is not None and got != version:
        raise SiteError(f"the runtime in {runtime} is Pyodide {got}, not {version}")
    return dict(lock)


# ----------------------------------------------------------------------------- NumPy


def _numpy_bytes(source: str | None, runtime: Path, entry: dict[str, str], version: str,
                 cache: Path) -> tuple[bytes, str]:
    """The NumPy wheel's bytes and where they came from.

    ``source`` is a path to the wheel, to an archive (zip, wheel or tar) that holds it under
    its lock-file name, or an http(s) URL; None takes the wheel from the runtime folder (a full
    distribution), else the cache, else the official CDN.
    """
    name = entry["file_name"]
    if source is None:
        for folder in (runtime, cache):
            if (folder / name).is_file():
                return (folder / name).read_bytes(), str(folder / name)
        source = numpy_wheel_url(version, name)
    if re.match(r"https?://", source):
        try:
            with urllib.request.urlopen(source, timeout=120) as r:  # noqa: S310 (http(s) only)
                data: bytes = r.read()
        except OSError as exc:
            raise SiteError(f"cannot download the NumPy wheel from {source} ({exc}); pass "
                            "--numpy-wheel with a local copy") from None
        return data, source
    path = Path(source).expanduser()
    if not path.is_file():
        raise SiteError(f"--numpy-wheel {path}: no such file")
    if path.name == name:
        return path.read_bytes(), str(path)
    members = [m for m in _archive_members(path) if m.rsplit("/", 1)[-1] == name]
    if not members:
        raise SiteError(f"{path} is not {name} and holds no file of that name")
    return _read_member(path, members[0]), f"{path}!{members[0]}"


# ----------------------------------------------------------------------------- the wheel


def _version() -> str:
    text = (_SRC.parents[1] / "pyproject.toml")
    if text.is_file():
        m = re.search(r'^version\s*=\s*"([^"]+)"', text.read_text(encoding="utf-8"), re.M)
        if m:
            return m.group(1)
    from importlib.metadata import version

    return version("gradwise")


def wheel_members(src: Path = _SRC) -> list[str]:
    """The files (relative to ``src/``) of the browser wheel: every module that needs only
    NumPy, ``py.typed`` and the packaged configs."""
    out = []
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src).as_posix()
        if not p.is_file() or "__pycache__" in rel or rel.startswith(_EXCLUDE):
            continue
        if p.suffix == ".py":
            if _HEAVY.search(p.read_text(encoding="utf-8")):
                continue
        elif not (rel == "py.typed" or (rel.startswith("configs/") and p.suffix == ".toml")):
            continue
        out.append("gradwise/" + rel)
    return out


def build_wheel(out_dir: Path, src: Path = _SRC) -> Path:
    """Write ``gradwise-VERSION-py3-none-any.whl`` (reproducible: fixed times, sorted) into
    ``out_dir`` and return its path."""
    version = _version()
    dist_info = f"gradwise-{version}.dist-info"
    files: list[tuple[str, bytes]] = [(m, (src.parent / m).read_bytes())
                                      for m in wheel_members(src)]
    files.append((f"{dist_info}/METADATA", (
        "Metadata-Version: 2.1\nName: gradwise\nVersion: " + version + "\n"
        "Summary: gradwise's engine for the browser (Pyodide): NumPy only\n"
        "Requires-Python: >=3.11\nRequires-Dist: numpy>=1.26\n").encode()))
    files.append((f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: gradwise.static_site"
                  b"\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    record = io.StringIO()
    for name, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.write(f"{name},sha256={digest},{len(data)}\n")
    record.write(f"{dist_info}/RECORD,,\n")
    files.append((f"{dist_info}/RECORD", record.getvalue().encode()))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"gradwise-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    return path


# ----------------------------------------------------------------------------- the site


@dataclass
class Site:
    """What :func:`build_site` wrote."""

    out: Path
    pyodide_version: str
    numpy_source: str
    gradwise_wheel: Path
    files: dict[str, int] = field(default_factory=dict)  # name -> bytes

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gradwise" / "pyodide"


def build_site(out: Path | str, *, pyodide_version: str = PYODIDE_VERSION,
               cache: Path | str | None = None, numpy_wheel: str | None = None,
               pyodide_dist: Path | str | None = None) -> Site:
    """Write the static site into ``out`` (created; files of the same names are replaced).

    ``pyodide_dist`` (a folder or archive of an official full Pyodide distribution) replaces the
    npm package; ``numpy_wheel`` names the NumPy wheel's source (see :func:`_numpy_bytes`).
    Whatever the source, the NumPy wheel must have the sha256 in the runtime's lock file.
    """
    out = Path(out).expanduser()
    cache_dir = Path(cache).expanduser() if cache is not None else _default_cache()
    if pyodide_dist is not None:
        runtime = _from_dist(Path(pyodide_dist).expanduser(), cache_dir)
        lock = _lock(runtime, None)
    else:
        runtime = _from_npm(pyodide_version, cache_dir)
        lock = _lock(runtime, pyodide_version)
    info = lock.get("info")
    version = str(info.get("version")) if isinstance(info, dict) else pyodide_version
    packages = lock.get("packages")
    entry = packages.get("numpy") if isinstance(packages, dict) else None
    if not isinstance(entry, dict):
        raise SiteError(f"{runtime / 'pyodide-lock.json'} has no numpy entry")
    if entry.get("depends"):
        raise SiteError(f"Pyodide {version}'s numpy depends on {entry['depends']}: not handled")
    data, source = _numpy_bytes(numpy_wheel, runtime, entry, version, cache_dir)
    verify_sha256(data, entry["sha256"], f"the NumPy wheel from {source}")
    if re.match(r"https?://", source):
        cache_dir.mkdir(parents=True, exist_ok=True)
        (cache_dir / entry["file_name"]).write_bytes(data)  # verified: keep for the next build

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, int] = {}

    def put(name: str, payload: bytes) -> None:
        tmp = out / f".{name}.tmp"
        tmp.write_bytes(payload)
        tmp.replace(out / name)
        files[name] = len(payload)

    for name in RUNTIME_FILES:
        put(name, (runtime / name).read_bytes())
    put(entry["file_name"], data)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp))
        put(wheel.name, wheel.read_bytes())
    for name in WEBAPP_FILES:
        put(name, (WEBAPP / name).read_bytes())
    manifest = {"pyodide": version, "python": info.get("python") if isinstance(info, dict)
                else None, "numpy_wheel": entry["file_name"], "numpy_sha256": entry["sha256"],
                "gradwise_wheel": wheel.name, "files": dict(sorted(files.items()))}
    put("site.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return Site(out, version, source, out / wheel.name, files)


def site_report(site: Site) -> Iterable[str]:
    """Lines that say what was written (for the command line)."""
    yield f"wrote {site.out}/ (Pyodide {site.pyodide_version}; NumPy from {site.numpy_source})"
    yield (f"  gradwise wheel {site.gradwise_wheel.name}: "
           f"{site.files[site.gradwise_wheel.name] / 1e3:.0f} kB")
    yield f"  a visitor downloads about {site.total_bytes / 1e6:.1f} MB (before gzip)"
    yield f"  serve it: python -m http.server --bind 127.0.0.1 --directory {site.out}"
