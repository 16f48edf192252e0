"""Files in and out of a sandbox, through fsspec, with names that cannot escape.

Inputs are fsspec URLs (local paths, `memory://`, object stores), or bytes a caller has already
read and checked (the engine's staged file handles); they appear in the sandbox's working
directory under a sanitised name. Files the code writes there come back to a destination
fsspec folder, each with its sha256 and size; a name that cannot be kept (one that does not
encode, climbs out, collides with a folder or a file, or meets a link) is refused with a
message, never raised.

`read_checked` reads a file the runtime recorded (a run's workspace): inside its root only,
never through a link out of it, only a regular file, its size capped before it is read, its
content checked against the recorded sha256. `read_user_file` reads a file a person supplied,
through an allowlist of fsspec protocols, with the same size cap.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileOut", "safe_name", "read_inputs", "write_outputs", "UnsafeName", "OutputRefused",
           "FileRefused", "read_checked", "read_user_file", "url_protocols"]

_BAD = re.compile(r"[\x00-\x1f\\]")


class UnsafeName(ValueError):
    """A file name that is absolute, climbs out with `..`, holds control characters or does
    not encode as UTF-8."""


class FileRefused(ValueError):
    """A file that may not be read: not one of the runtime's, not a regular file, changed,
    over the size limit, outside its folder, or behind a protocol that is not allowed."""


class OutputRefused(str):
    """The message of an output file `write_outputs` could not keep (a `str`: it joins the
    sandbox's own file problems; its type tells the engine it must fail the node)."""


@dataclass(frozen=True)
class FileOut:
    name: str
    url: str
    sha256: str
    size: int


def _shown(name: object) -> str:
    """A name as a message may show it: short, and encodable whatever it holds."""
    text = repr(name) if isinstance(name, str) else repr(type(name).__name__)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 80 else text[:77] + "..."


def safe_name(name: str) -> str:
    """A relative POSIX path inside the working directory, or UnsafeName."""
    if not isinstance(name, str) or not name or len(name) > 255 or _BAD.search(name):
        raise UnsafeName(f"unsafe file name {_shown(name)}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeName(f"file name {_shown(name)} does not encode as UTF-8") from None
    if name.startswith("/") or name.startswith("~"):
        raise UnsafeName(f"absolute file name {_shown(name)}")
    norm = posixpath.normpath(name)
    if norm in (".", "") or norm == ".." or norm.startswith("../") or "/../" in f"/{norm}/":
        raise UnsafeName(f"file name {_shown(name)} leaves the working directory")
    if any(len(part.encode("utf-8")) > 255 for part in norm.split("/")):
        raise UnsafeName(f"file name {_shown(name)} has a part longer than 255 bytes")
    return norm


def read_inputs(inputs: dict[str, object], *, local_paths: bool = False,
                max_bytes: int | None = None) -> list[tuple[str, object]]:
    """{name in the sandbox: fsspec URL, or bytes already read} -> [(name, bytes)]; with
    `local_paths`, a local file is given as its Path instead of its bytes (the sandbox reads
    it without a copy). A local path must be a regular file (a device, FIFO or folder is
    refused before it is opened for reading); `max_bytes` caps what is read."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    out: list[tuple[str, object]] = []
    for name, url in inputs.items():
        if isinstance(url, (bytes, bytearray, memoryview)):
            out.append((safe_name(name), bytes(url)))
            continue
        fs, path = fsspec.core.url_to_fs(str(url))
        if isinstance(fs, LocalFileSystem):
            try:
                st = os.stat(path)
            except OSError as e:
                raise FileRefused(f"input {_shown(name)} cannot be read: "
                                  f"{e.strerror or e}") from None
            if not stat.S_ISREG(st.st_mode):
                raise FileRefused(f"input {_shown(name)} is not a regular file")
            if max_bytes is not None and st.st_size > max_bytes:
                raise FileRefused(f"input {_shown(name)} is over the limit of {max_bytes} bytes")
            if local_paths:
                out.append((safe_name(name), Path(path)))
                continue
        with fsspec.open(str(url), "rb") as f:
            data = f.read() if max_bytes is None else f.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise FileRefused(f"input {_shown(name)} is over the limit of {max_bytes} bytes")
        out.append((safe_name(name), data))
    return out


def _local_root(destination: str) -> str | None:
    """The local folder of a destination URL, or None for another file system."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    fs, root = fsspec.core.url_to_fs(destination)
    return root if isinstance(fs, LocalFileSystem) else None


def _write_local(root: str, rel: str, data: bytes) -> str:
    """Write `data` at `root/rel`, creating folders, never through a link and never over a
    folder; the file's path. OSError (with a message naming what was in the way) else."""
    parts = rel.split("/")
    here = root
    for k, part in enumerate(parts[:-1], 1):
        here = os.path.join(here, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            os.mkdir(here)
            continue
        shown = "/".join(parts[:k])
        if stat.S_ISLNK(st.st_mode):
            raise OSError(errno.ELOOP, f"`{shown}` is a link")
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, f"`{shown}` is a file, not a folder")
    path = os.path.join(here, parts[-1])
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISDIR(st.st_mode):
            raise OSError(errno.EISDIR, f"`{rel}` is a folder")
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EEXIST, f"`{rel}` is a link or a special file")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def write_outputs(files: list[tuple[str, bytes]],
                  destination: str) -> tuple[list[FileOut], list[str]]:
    """Write returned files under the destination fsspec folder. A name that cannot be kept
    is refused with a message (an `OutputRefused`): unsafe or not encodable, given twice, a
    file where another name needs a folder (`a` and `a/b`) or the reverse, a link on the way,
    or any error of the file system. Never raises for a file's sake."""
    import fsspec

    written: list[FileOut] = []
    refused: list[str] = []
    names: dict[str, bytes] = {}
    for name, data in files:
        try:
            rel = safe_name(name)
        except UnsafeName as e:
            refused.append(OutputRefused(str(e)))
            continue
        if rel in names:
            refused.append(OutputRefused(f"file `{rel}` was returned twice"))
            continue
        names[rel] = data
    keep: list[tuple[str, bytes]] = []
    kept_files: set[str] = set()
    kept_folders: set[str] = set()
    for rel, data in names.items():  # the first of two that cannot both be kept wins
        parents = ["/".join(rel.split("/")[:k]) for k in range(1, rel.count("/") + 1)]
        if rel in kept_folders:
            refused.append(OutputRefused(
                f"file `{rel}` cannot be kept: `{rel}` is a folder of another file"))
            continue
        clash = next((f for f in parents if f in kept_files), None)
        if clash is not None:
            refused.append(OutputRefused(
                f"file `{rel}` cannot be kept: `{clash}` is a file, not a folder"))
            continue
        kept_files.add(rel)
        kept_folders.update(parents)
        keep.append((rel, data))
    if not keep:
        return written, refused
    try:
        local = _local_root(destination)
        fs, root = fsspec.core.url_to_fs(destination)
        if local is not None:
            os.makedirs(local, exist_ok=True)
    except (OSError, ValueError) as e:
        refused.append(OutputRefused(f"the output folder cannot be used: {_err(e)}"))
        return written, refused
    for rel, data in keep:
        try:
            if local is not None:
                path = _write_local(local, rel, data)
                url = fs.unstrip_protocol(path)
            else:
                path = posixpath.join(root.rstrip("/"), rel)
                parent = posixpath.dirname(path)
                if parent:
                    fs.makedirs(parent, exist_ok=True)
                with fs.open(path, "wb") as f:
                    f.write(data)
                url = fs.unstrip_protocol(path)
        except (OSError, ValueError) as e:
            refused.append(OutputRefused(f"file `{rel}` cannot be kept: {_err(e)}"))
            continue
        written.append(FileOut(rel, url, hashlib.sha256(data).hexdigest(), len(data)))
    return written, refused


def _err(e: BaseException) -> str:
    text = (e.strerror if isinstance(e, OSError) and e.strerror else str(e)) or type(e).__name__
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:200]


# ---- reading files the runtime recorded, and files people supply -------------------------

def _read_fd(fd: int, size: int, limit: int) -> bytes:
    """At most `limit + 1` bytes from `fd` (so a file that grew shows it)."""
    chunks, got = [], 0
    while got <= limit:
        chunk = os.read(fd, min(1 << 20, limit + 1 - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def read_checked(root: str, location: str, sha256: str, size: int, max_bytes: int) -> bytes:
    """The content of a file the runtime recorded at `location` under the folder `root` (a
    local path or fsspec URL), checked: inside `root` after resolving links, not itself a
    link, a regular file (no device, FIFO or folder: none is opened for reading first), its
    size the recorded one and at most `max_bytes` (checked before reading), its content
    matching the recorded sha256. FileRefused says which check failed."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    try:
        rel = safe_name(location)
    except UnsafeName as e:
        raise FileRefused(str(e)) from None
    if size > max_bytes:
        raise FileRefused(f"it is {size} bytes, over the limit of {max_bytes} bytes")
    fs, base = fsspec.core.url_to_fs(root)
    if isinstance(fs, LocalFileSystem):
        base = os.path.realpath(base)
        path = os.path.join(base, *rel.split("/"))
        if not _inside(os.path.realpath(os.path.dirname(path)), base):
            raise FileRefused("its folder leads out of the workspace")
        try:  # nothing but a regular file is even opened (then checked again, on the fd)
            st = os.lstat(path)
        except OSError as e:
            raise FileRefused(f"it cannot be read: {_err(e)}") from None
        if stat.S_ISLNK(st.st_mode):
            raise FileRefused("it is a link, not the file that was recorded")
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused("it is not a regular file any more")
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | \
            getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise FileRefused("it is a link, not the file that was recorded") from None
            raise FileRefused(f"it cannot be read: {_err(e)}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FileRefused("it is not a regular file any more")
            if st.st_size > max_bytes:
                raise FileRefused(f"it is {st.st_size} bytes now, over the limit of "
                                  f"{max_bytes} bytes")
            if st.st_size != size:
                raise FileRefused(f"it changed since it was recorded ({size} bytes then, "
                                  f"{st.st_size} now)")
            data = _read_fd(fd, size, max_bytes)
        finally:
            os.close(fd)
    else:
        path = posixpath.join(base.rstrip("/"), rel)
        try:
            info = fs.info(path)
        except Exception as e:  # any file system's own errors
            raise FileRefused(f"it cannot be read: {_err(e)}") from None
        if info.get("type") != "file":
            raise FileRefused("it is not a regular file any more")
        now = info.get("size")
        if isinstance(now, int) and now > max_bytes:
            raise FileRefused(f"it is {now} bytes now, over the limit of {max_bytes} bytes")
        try:
            with fs.open(path, "rb") as f:
                data = f.read(max_bytes + 1)
        except Exception as e:  # any file system's own errors
            raise FileRefused(f"it cannot be read: {_err(e)}") from None
    if len(data) > max_bytes:
        raise FileRefused(f"it is over the limit of {max_bytes} bytes now")
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
        raise FileRefused("it changed since it was recorded (its sha256 differs)")
    return data


def url_protocols(url: str) -> list[str]:
    """The fsspec protocols a URL goes through (`simplecache::s3://b/k` -> simplecache, s3); a
    plain path is `file`."""
    import fsspec

    parts = url.split("::")
    out = []
    for k, part in enumerate(parts):
        if "://" in part:
            proto, _ = fsspec.core.split_protocol(part)
        elif k < len(parts) - 1:  # `simplecache::...`: a bare protocol name in a chain
            proto = part
        else:
            proto, _ = fsspec.core.split_protocol(part)  # a path (or `proto:path`)
        out.append((proto or "file").lower())
    return out


def read_user_file(url: str, protocols: tuple[str, ...], max_bytes: int) -> bytes:
    """The content of a file a person supplied (`--input f=@FILE`, a form's file field, an
    answer): every protocol of the URL must be in `protocols`; a local file must be a
    regular file (opened without blocking, so a FIFO cannot hang the host); at most
    `max_bytes`, checked before reading where the size is known."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    if not isinstance(url, str) or not url:
        raise FileRefused("a file value needs a `path`")
    for proto in url_protocols(url):
        if proto not in protocols:
            raise FileRefused(f"protocol `{proto}` is not allowed for files people supply "
                              f"(allowed: {', '.join(protocols) or 'none'}; see [files] "
                              "protocols in flowc.toml)")
    shown = _shown(url)
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except Exception as e:  # an unknown protocol, a missing driver, a bad URL
        raise FileRefused(f"{shown} cannot be read: {_err(e)}") from None
    if isinstance(fs, LocalFileSystem):
        try:  # nothing but a regular file is even opened (then checked again, on the fd)
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise FileRefused(f"{shown} is not a regular file")
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            raise FileRefused(f"{shown} cannot be read: {_err(e)}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FileRefused(f"{shown} is not a regular file")
            if st.st_size > max_bytes:
                raise FileRefused(f"{shown} is {st.st_size} bytes, over the limit of "
                                  f"{max_bytes} bytes")
            data = _read_fd(fd, st.st_size, max_bytes)
        finally:
            os.close(fd)
    else:
        try:
            info = fs.info(path)
            if info.get("type") != "file":
                raise FileRefused(f"{shown} is not a regular file")
            size = info.get("size")
            if isinstance(size, int) and size > max_bytes:
                raise FileRefused(f"{shown} is {size} bytes, over the limit of "
                                  f"{max_bytes} bytes")
            with fs.open(path, "rb") as f:
                data = f.read(max_bytes + 1)
        except FileRefused:
            raise
        except Exception as e:  # any file system's own errors: the file cannot be read
            raise FileRefused(f"{shown} cannot be read: {_err(e)}") from None
    if len(data) > max_bytes:
        raise FileRefused(f"{shown} is over the limit of {max_bytes} bytes")
    return data
