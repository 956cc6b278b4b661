"""Under load: concurrent browser sessions moving the IoU slider against one real ``explorer run`` server.

    python3 benchmarks/bench_load.py --project /tmp/p100k --sessions 10 --moves 3   # issue 10 (the 100k project)
    python3 benchmarks/bench_load.py --images 100000             # builds bench_scale's project first (--keep DIR)
    python3 benchmarks/bench_load.py --project P --pages model_metrics,failures,confusion_matrix   # per page
    python3 benchmarks/bench_load.py --images 200 --sessions 2 --moves 1   # the CI smoke size

Starts ``explorer run PROJECT --no-samples`` on a free port of 127.0.0.1 (never another interface;
``explorer.commands.run.start_server``, the browser tests' server too). For each page of ``--pages`` (URL paths;
default Model Quality › Metrics, the heaviest; ``performance_by_metric`` is a light one), opens ``--sessions``
independent browser sessions (one Chromium, one context each: separate Streamlit sessions), waits until every one
has rendered, then all sessions at once move the sidebar's IoU slider ``--moves`` times (one ArrowRight = +0.05
each, the next after the previous rerun). Any Python exception shown on a page stops the benchmark.

Method (the load generator must not be what it measures). On a deployment the browsers run on the users' machines;
here ten headless tabs share the server's cores (on 2 cores they used more CPU than the server: 111 s in 80 s).
So:
- While the sessions move, every thread of the client side (Chromium's renderers, GPU process, zygotes, browser
  process, network service, and the Playwright driver) runs at niceness 19 (``--client-priority nice``, the
  default): a thread at nice 19 weighs 15 against the server's 1024, so ten busy tabs take about 1/7 of a core
  from a busy server thread instead of half of the machine. They open at normal priority (first renders are not
  measured). Stricter: ``gate`` = ``SCHED_IDLE`` exactly while the server works on a rerun (``Gate``, switched by
  the relay as the frames pass), normal between; ``idle`` = ``SCHED_IDLE`` throughout; ``none``. On a loaded
  shared machine (load 20-40) SCHED_IDLE tabs stalled for minutes and some never finished a rerun (a starved
  thread holding what the others wait for), so they are not the default. Tabs draw less: a 1280x800 viewport,
  reduced motion. The report counts the client threads at nice 19 (Chromium, as root, raises some of its own
  threads again) and how many reruns were in flight at the server at once (from the wire).
- Each session talks to the server through its own relay port (``Wire``/``Relay``: a byte-for-byte TCP relay in
  a thread of this process at normal priority). The **server answer** of a rerun is timed there, on the wire: from
  the rerun request (BackMsg ``rerun_script``) reaching the server to the ``script_finished`` leaving it — what a
  user's browser would see, without the deprioritised tabs' delays (Chromium reports websocket frames to DevTools
  only when the renderer handles them, so the tab's own view would count its starvation).
- The **page idle** time (key press until the tab shows the finished run: a MutationObserver on the app's script
  state, slider at its new value, on Metrics the headline's label at the new IoU) is printed beside it; it includes
  the starved tabs' own drawing and is not the server's figure.
- CPU seconds during the moves from /proc: the server's process group (what it needs; a loaded machine only
  stretches the wall time), Chromium's rendering processes and its browser process + the Playwright driver
  apart. The 1-min load average is printed: the machine may be shared, so every wall time is an upper bound of a
  quiet machine's.

Printed per page: each session's times, median / p95 / max of both times, the server's RSS (its process group)
idle, with the sessions rendered and after the moves, the CPU figures, whether every server answer met
``--limit`` (issue 10: the 1 s scale target x 3), and a one-line summary for the README. ``--warm``: one session
walks the IoUs alone first, so the timed reruns find the data cached (the per-session cost). ``--py-spy FILE``:
the server's GIL-holding stacks during the moves.
Bounded: every wait has a timeout (``--timeout``), the server is stopped at the end, the project is built in a
temporary folder unless ``--keep`` names one. Chromium: Debian's ``/usr/bin/chromium``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from explorer.commands.run import CHROMIUM, CHROMIUM_ARGS, ServerError, start_server  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")

#: less drawing per tab (the tabs stand for users' browsers on their own machines): a laptop-sized viewport (the
#: sidebar stays open), no animations (Streamlit's running indicator and transitions repaint every frame while a
#: script runs), no smooth scrolling or extensions
VIEWPORT = {"width": 1280, "height": 800}
LIGHT_ARGS = ["--force-prefers-reduced-motion", "--disable-smooth-scrolling", "--disable-extensions"]

# counts finished script runs (running -> notRunning) from before the page's first script runs
WATCH_RUNS = """
window.__runs = {finished: 0, running: false};
new MutationObserver(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app && app.getAttribute('data-test-script-state');
  if (state === 'running') window.__runs.running = true;
  else if (window.__runs.running && state === 'notRunning') { window.__runs.running = false; window.__runs.finished += 1; }
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-test-script-state']});
"""
FINISHED = "() => window.__runs.finished"
IDLE_AFTER = ("(n) => { const a = document.querySelector('[data-testid=\"stApp\"]');"
              " return window.__runs.finished > n && a && a.getAttribute('data-test-script-state') === 'notRunning'; }")
EXCEPTIONS = "() => [...document.querySelectorAll('[data-testid=\"stException\"]')].map(e => e.innerText.slice(0, 800))"
HEADLINE_LABEL = ("() => { const m = [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                  ".find(e => e.innerText.includes('mAP @'));"
                  " return m ? m.querySelector('[data-testid=\"stMetricLabel\"]').innerText.trim() : null; }")
SLIDER_VALUE = "e => e.value || e.getAttribute('aria-valuenow')"


class Wire:
    """One session's websocket as the network sees it: a relay on its own port of 127.0.0.1 between the session's
    browser context and the server, timestamping when each rerun request (BackMsg ``rerun_script``) reached the
    server and when each ``script_finished`` (ForwardMsg) left it. Their difference is the server's answer time,
    independent of the browsers: it runs in this process (normal priority), in its own thread and event loop, so
    neither a deprioritised renderer (Chromium reports websocket frames to DevTools only when the renderer handles
    them) nor the Playwright driver stretches it. Bytes are passed through unchanged; only small frames (the control
    messages) are decoded. Streamlit's websockets are uncompressed (``server.enableWebsocketCompression`` off)."""

    SMALL = 2048  # bytes: a frame carrying a table or a chart is counted, not decoded

    def __init__(self, relay: "Relay"):
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._back, self._forward, self._relay = BackMsg, ForwardMsg, relay
        self.sent: list[float] = []
        self.finished: list[float] = []
        self.received_bytes = 0  # every websocket frame the server sent this session
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def frame(self, to_server: bool, payload: bytes | None, size: int) -> None:
        """One whole frame (``payload`` None when larger than ``SMALL``), timestamped as it passes."""
        now = time.perf_counter()
        if not to_server:
            self.received_bytes += size
        if payload is None:
            return
        try:
            kind = (self._back if to_server else self._forward).FromString(payload).WhichOneof("type")
        except Exception:  # not a message of ours: ignore
            return
        if to_server and kind == "rerun_script":
            self.sent.append(now)
            if self._relay is not None:
                self._relay.gate.update(self, busy=True)
        elif not to_server and kind == "script_finished":
            self.finished.append(now)
            if self._relay is not None:
                self._relay.gate.update(self, busy=False)

    def intervals(self, since: float) -> list[tuple[float, float]]:
        """(request reached the server, script_finished left it) of every answered rerun requested after ``since``."""
        out, finished = [], list(self.finished)
        for sent in [t for t in list(self.sent) if t >= since]:
            done = next((t for t in finished if t > sent), None)
            if done is not None:
                out.append((sent, done))
        return out

    async def answer_time(self, since: float, timeout: float = 10.0) -> float:
        """Seconds from the first rerun request forwarded after ``since`` to the next script_finished (NaN if none
        arrives within ``timeout``)."""
        end = time.perf_counter() + timeout
        while True:
            sent = next((t for t in list(self.sent) if t >= since), None)
            done = next((t for t in list(self.finished) if sent is not None and t > sent), None)
            if done is not None:
                return done - sent
            if time.perf_counter() > end:
                return float("nan")
            await asyncio.sleep(0.01)


class Frames:
    """Incremental RFC 6455 frame scanner over one direction of a byte stream: ``feed`` calls
    ``wire.frame(to_server, payload, size)`` for every whole frame (payload unmasked, or None when large)."""

    def __init__(self, wire: Wire, to_server: bool):
        self.wire, self.to_server = wire, to_server
        self.head = b""      # bytes of an incomplete frame header
        self.left = 0        # payload bytes of the current frame still to come
        self.body = None     # the current small frame's payload so far (None: large, not kept)
        self.mask = b""
        self.size = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.left == 0 and self.body is None:  # a header
                self.head += bytes(view[:14])
                view = view[14:]
                parsed = self._header()
                if parsed is None:
                    continue
                used, self.size, self.mask = parsed
                view = memoryview(self.head[used:] + bytes(view))
                self.head, self.left = b"", self.size
                self.body = bytearray() if self.size <= Wire.SMALL else None
                if self.size == 0:
                    self._done()
                elif self.body is None:
                    self.body = False  # large: counting only
                continue
            take = min(self.left, len(view))
            if self.body is not False:
                self.body += view[:take]
            view, self.left = view[take:], self.left - take
            if self.left == 0:
                self._done()

    def _header(self):
        h = self.head
        if len(h) < 2:
            return None
        n, used = h[1] & 0x7F, 2
        if n == 126:
            if len(h) < 4:
                return None
            n, used = int.from_bytes(h[2:4], "big"), 4
        elif n == 127:
            if len(h) < 10:
                return None
            n, used = int.from_bytes(h[2:10], "big"), 10
        mask = b""
        if h[1] & 0x80:
            if len(h) < used + 4:
                return None
            mask, used = h[used:used + 4], used + 4
        return used, n, mask

    def _done(self) -> None:
        payload = None
        if self.body is not False and self.body is not None:
            payload = bytes(self.body)
            if self.mask:
                payload = bytes(b ^ self.mask[i % 4] for i, b in enumerate(payload))
        self.wire.frame(self.to_server, payload, self.size)
        self.body, self.left = None, 0


class Gate:
    """``--client-priority gate``: the client's threads at ``SCHED_IDLE`` exactly while the server works on a rerun
    (from a rerun request reaching it to its script_finished, any session), at normal priority otherwise. So the
    tabs never take CPU from a rerun in progress (on a deployment they run on other machines), yet draw the answers
    and send the next requests at full speed in between (a tab at SCHED_IDLE throughout, on a shared machine, takes
    minutes per rerun, and its late requests would spread the load the server sees). Switched by the relay
    thread as the frames pass; threads are the ones listed by ``arm`` (new threads inherit their creator's)."""

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.tids: list[int] = []
        self.busy: set[int] = set()
        self.closed_at: float | None = None
        self.closed_s = 0.0  # seconds the tabs spent at SCHED_IDLE since ``arm``
        self.switches = 0

    def arm(self, tids: list[int]) -> None:
        with self.lock:
            self.tids, self.busy, self.closed_s, self.switches = tids, set(), 0.0, 0

    def disarm(self) -> None:
        with self.lock:
            if self.closed_at is not None:
                self._set(False)
            self.tids = []
            self.busy.clear()

    def update(self, wire, busy: bool) -> None:
        with self.lock:
            was = bool(self.busy)
            (self.busy.add if busy else self.busy.discard)(id(wire))
            if self.tids and bool(self.busy) != was:
                self._set(bool(self.busy))

    def _set(self, idle: bool) -> None:
        policy = os.SCHED_IDLE if idle else os.SCHED_OTHER
        for tid in self.tids:
            try:
                os.sched_setscheduler(tid, policy, os.sched_param(0))
            except OSError:  # ended meanwhile
                continue
        now = time.perf_counter()
        if idle:
            self.closed_at = now
        elif self.closed_at is not None:
            self.closed_s, self.closed_at = self.closed_s + now - self.closed_at, None
        self.switches += 1


class Relay:
    """The sessions' relays (one ``Wire`` and port each) in a thread of their own with its own event loop."""

    def __init__(self, upstream: str):
        import threading
        from urllib.parse import urlparse

        target = urlparse(upstream)
        self.host, self.port = target.hostname, target.port
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="relay", daemon=True)
        self.thread.start()
        self.servers = []
        self.gate = Gate()

    def wire(self) -> Wire:
        """A new session's relay, listening on a free port of 127.0.0.1."""
        wire = Wire(self)

        async def listen():
            server = await asyncio.start_server(lambda r, w: self._connection(wire, r, w), "127.0.0.1", 0)
            self.servers.append(server)
            return server.sockets[0].getsockname()[1]

        wire.port = asyncio.run_coroutine_threadsafe(listen(), self.loop).result(30)
        return wire

    async def _connection(self, wire: Wire, client_r, client_w) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_w.close()
            return
        try:  # the first request: a websocket upgrade or plain HTTP (Chromium opens websockets on new connections)
            first = await client_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            client_w.close()
            server_w.close()
            return
        websocket = b"upgrade: websocket" in first.lower()
        server_w.write(first)
        await asyncio.gather(self._pump(client_r, server_w, Frames(wire, True) if websocket else None, False),
                             self._pump(server_r, client_w, Frames(wire, False) if websocket else None, True),
                             return_exceptions=True)

    @staticmethod
    async def _pump(reader, writer, frames: Frames | None, response: bool) -> None:
        try:
            if frames is not None and response:  # the server's 101 response, then frames
                writer.write(await reader.readuntil(b"\r\n\r\n"))
            while data := await reader.read(1 << 16):
                writer.write(data)
                if frames is not None:
                    frames.feed(data)
                await writer.drain()
        finally:
            writer.close()

    def close(self) -> None:
        async def stop():
            for server in self.servers:
                server.close()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def in_flight(intervals: list[tuple[float, float]]) -> tuple[float, int]:
    """How many reruns the server was working on at once: (time-weighted mean while at least one was, maximum)."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    busy = weighted = 0.0
    now, most, last = 0, 0, None
    for t, step in events:
        if now > 0:
            busy, weighted = busy + (t - last), weighted + now * (t - last)
        now, last = now + step, t
        most = max(most, now)
    return (weighted / busy if busy else 0.0), most


def p95(values: list[float]) -> float:
    """The 95th percentile, nearest rank (of 30 reruns: the 29th smallest); NaN (a missing answer) sorts last."""
    ordered = sorted(values, key=lambda v: (v != v, v))
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


class PageError(RuntimeError):
    """A page showed a Python exception (or never reached the expected state)."""


def group_stats(pgid: int) -> tuple[float, float]:
    """(resident MB, CPU seconds user+system) of every process in process group ``pgid`` (the server)."""
    rss_kb, ticks = 0, 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # fields[k] is stat field k + 3
            if int(fields[2]) != pgid:
                continue
            ticks += int(fields[11]) + int(fields[12])
            with open(f"/proc/{pid}/status") as f:
                rss_kb += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, IndexError, ValueError):
            continue  # the process ended meanwhile
    return rss_kb / 1024, ticks / TICKS


def descendants(root: int, server: int) -> dict[int, float]:
    """Every live descendant of process ``root`` outside process group ``server`` (here: the Playwright driver
    and Chromium, the client side) with its CPU seconds (user+system, all its threads)."""
    parent, cpu = {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parent[int(pid)] = int(fields[1])
            if int(fields[2]) != server:
                cpu[int(pid)] = (int(fields[11]) + int(fields[12])) / TICKS
        except (OSError, IndexError, ValueError):
            continue
    found = {}
    for pid in cpu:
        p = parent.get(pid)
        while p is not None and p != root and p > 1:
            p = parent.get(p)
        if p == root:
            found[pid] = cpu[pid]
    return found


#: Chromium's process types (``--type=``) that draw the pages (reported apart from the browser process and driver)
RENDERING = ("renderer", "gpu-process", "zygote")


def role(pid: int) -> str:
    """``"render"`` for Chromium's renderers, GPU process and zygotes (which fork the renderers); ``"browser"`` for
    Chromium's browser process, its utility processes (network service) and the Playwright driver."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().replace(b"\0", b" ").split()  # the zygote and its children rewrite it, space-separated
    except OSError:
        return "gone"
    kind = next((a[len(b"--type="):].decode() for a in args if a.startswith(b"--type=")), "")
    return "render" if kind in RENDERING else "browser"


def client_cpu(server: int) -> dict[int, tuple[str, float]]:
    """Every client process now: pid -> (role, CPU seconds so far); ``cpu_between`` takes two of these."""
    return {pid: (role(pid), seconds) for pid, seconds in descendants(os.getpid(), server).items()}


def cpu_between(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds the client side used between two ``client_cpu`` readings, by role (``render``, ``browser``) and
    ``total``: per process, its growth (a process started meanwhile counts whole; one that ended meanwhile is lost,
    so this is a lower bound)."""
    out = {"render": 0.0, "browser": 0.0}
    for pid, (kind, seconds) in after.items():
        if kind in out:
            out[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    out["total"] = out["render"] + out["browser"]
    return out


def set_priority(priority: str, server: int) -> int:
    """Set the CPU priority of every thread of the client side (Chromium's processes and the Playwright driver; not
    this process, whose relay thread timestamps the wire): ``"idle"`` = ``SCHED_IDLE`` (the kernel's weight 3 against
    1024 for a normal thread: they run on what the server and everything else leave) plus niceness 19; ``"nice"`` =
    niceness 19 only; ``"normal"`` = ``SCHED_OTHER`` at niceness 0 (also undoing Chromium's own raised priorities:
    as root its browser process runs threads at niceness -8, above the server); ``"none"``: untouched. Policy and
    niceness are per thread on Linux and inherited by ``fork`` and new threads (the zygotes pass them on to the
    renderers they fork). The sessions open at ``normal`` (their first renders are not measured, and a starved tab
    on a shared machine would take minutes) and move at ``priority``. Returns how many settings changed."""
    if priority == "none":
        return 0
    done, policy_wanted = 0, os.SCHED_IDLE if priority == "idle" else os.SCHED_OTHER
    niceness = 0 if priority == "normal" else 19
    for _ in range(3):  # again while a pass changed something: a thread started by one not yet set is caught next
        changed = 0
        for tid in client_tids(server):
            try:
                if os.sched_getscheduler(tid) != policy_wanted:
                    os.sched_setscheduler(tid, policy_wanted, os.sched_param(0))
                    changed += 1
                if os.getpriority(os.PRIO_PROCESS, tid) != niceness:
                    os.setpriority(os.PRIO_PROCESS, tid, niceness)
                    changed += 1
            except OSError:  # the thread ended meanwhile (or, not root, a priority may not be raised again)
                continue
        done += changed
        if not changed:
            break
    return done


def client_tids(server: int) -> list[int]:
    """Every thread of the client side (Chromium's processes, the Playwright driver) right now."""
    out = []
    for pid in descendants(os.getpid(), server):
        try:
            out += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
    return out


def client_threads(server: int) -> tuple[int, int, int]:
    """(threads, at SCHED_IDLE, at niceness 19) of the client side right now: the check that the priority reached
    every thread."""
    total = idle = nice = 0
    for tid in client_tids(server):
        try:
            policy, niceness = os.sched_getscheduler(tid), os.getpriority(os.PRIO_PROCESS, tid)
        except OSError:
            continue
        total, idle, nice = total + 1, idle + (policy == os.SCHED_IDLE), nice + (niceness == 19)
    return total, idle, nice


def build_project(n_images: int, work: Path) -> Path:
    """bench_scale's synthetic project (labels, two runs, splits) of ``n_images`` images."""
    sys.path.insert(0, str(HERE))
    from bench_scale import generate_files, step_add_predictions, step_import

    project = work / f"project_{n_images}"
    if (project / "project.json").exists():
        return project
    files = generate_files(n_images, work / "files")
    step_import(files, project)
    step_add_predictions(files, project)
    return project


def _slider(page):
    """The sidebar's IoU slider (Streamlit 1.67: a react-aria <input type="range" aria-label="IoU threshold">)."""
    return page.locator('[data-testid="stSidebar"]').get_by_role("slider", name="IoU threshold")


async def _check(page, what: str) -> None:
    errors = await page.evaluate(EXCEPTIONS)
    if errors:
        raise PageError(f"{what}: the page shows an exception:\n{errors[0]}")


async def open_session(browser, relay: Relay, path: str, timeout_ms: float):
    """A fresh context (its own Streamlit session) on page ``path``, rendered and idle: (context, page, seconds)."""
    context = await browser.new_context(viewport=VIEWPORT, reduced_motion="reduce")
    context.set_default_timeout(timeout_ms)
    await context.add_init_script(WATCH_RUNS)
    page = await context.new_page()
    page.wire = relay.wire()
    t0 = time.perf_counter()
    await page.goto(f"{page.wire.url}/{path}", wait_until="domcontentloaded", timeout=timeout_ms)
    await _slider(page).wait_for(timeout=timeout_ms)
    await page.wait_for_function(IDLE_AFTER, arg=0, timeout=timeout_ms)
    await _check(page, f"{path}, first render")
    return context, page, time.perf_counter() - t0


async def move_slider(page, path: str, moves: int, timeout_ms: float) -> tuple[list[float], list[float]]:
    """Press ArrowRight on the IoU slider ``moves`` times, each after the previous rerun finished: seconds each
    until the page is idle again, and seconds each between the rerun request and the server's script_finished."""
    slider = _slider(page)
    times, answers, sizes = [], [], []
    for move in range(moves):
        t_start = time.perf_counter()
        value = float(await slider.evaluate(SLIDER_VALUE))
        target = f"{value + 0.05:.2f}"
        done = await page.evaluate(FINISHED)
        received = page.wire.received_bytes
        await slider.focus()
        t0 = time.perf_counter()
        await page.keyboard.press("ArrowRight")
        await page.wait_for_function(IDLE_AFTER, arg=done, timeout=timeout_ms)
        times.append(time.perf_counter() - t0)
        answers.append(await page.wire.answer_time(t0))
        sizes.append(page.wire.received_bytes - received)
        await _check(page, f"{path}, IoU {target}")
        now = f"{float(await slider.evaluate(SLIDER_VALUE)):.2f}"
        label = await page.evaluate(HEADLINE_LABEL) if path == "model_metrics" else None
        if now != target or (path == "model_metrics" and (label is None or not label.endswith(target))):
            raise PageError(f"{path}: after the move the slider reads {now} and the headline {label!r}, "
                            f"expected IoU {target}")
        print(f"  {path} {page.wire.url} move {move + 1}: IoU {target}, page idle {times[-1]:.2f} s, server answer "
              f"{answers[-1]:.2f} s, whole step {time.perf_counter() - t_start:.2f} s", file=sys.stderr, flush=True)
    return times, answers, sizes


class Profile:
    """``py-spy record --gil`` of the server (raw collapsed stacks, 50 Hz, only the thread holding the GIL: sleeping
    threads are not counted) while the sessions move: started just before
    the moves, stopped (SIGINT: py-spy writes its file) right after, so the first renders are not in it."""

    def __init__(self, out: Path | None, pid: int):
        self.out, self.pid, self.process = out, pid, None

    def __enter__(self):
        if self.out is not None:
            import subprocess

            self.process = subprocess.Popen(["py-spy", "record", "-p", str(self.pid), "-r", "50", "--gil", "--format", "raw",
                                             "-o", str(self.out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)  # attached before the first key press
        return self

    def __exit__(self, *exc):
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except Exception:
                self.process.kill()


def yield_to_server(priority: str, server: int, relay: "Relay") -> None:
    """Before timed moves: ``gate`` arms the relay's gate over every client thread (normal priority until a rerun
    is in flight), the other modes set the priority for the whole moves."""
    if priority == "gate":
        set_priority("normal", server)
        relay.gate.arm(client_tids(server))
    else:
        set_priority(priority, server)


async def drive_page(browser, relay: Relay, path: str, sessions: int, moves: int, timeout_s: float, pgid: int,
                     priority: str, warm: bool = False, profile: Path | None = None) -> dict:
    """One page: open ``sessions`` sessions at once, then all move the slider ``moves`` times at once.

    ``warm``: before the timed moves one more session walks the slider through the same values alone (its times
    are reported as ``warm_s``) and is closed, so the timed reruns find every IoU's data cached: what remains is
    the per-session cost (script run, widgets, figures, serialisation) that no shared cache can take away."""
    timeout_ms = timeout_s * 1000
    rss_before, _ = group_stats(pgid)
    opened = await asyncio.gather(*(open_session(browser, relay, path, timeout_ms) for _ in range(sessions)))
    warm_s = warm_server_s = None
    if warm:
        context, page, _ = await open_session(browser, relay, path, timeout_ms)
        yield_to_server(priority, pgid, relay)
        try:
            warm_s, warm_server_s, _ = await move_slider(page, path, moves, timeout_ms)
        finally:
            relay.gate.disarm()
            await context.close()
    yield_to_server(priority, pgid, relay)  # the moves: the tabs yield the CPU (they stand for the users' machines)
    threads = client_threads(pgid)
    with Profile(profile, pgid):
        rss_open, cpu0 = group_stats(pgid)
        client0 = client_cpu(pgid)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        try:
            reruns = await asyncio.gather(*(move_slider(page, path, moves, timeout_ms) for _, page, _ in opened))
        finally:
            wall = time.perf_counter() - t0
            rss_after, cpu1 = group_stats(pgid)
            client1 = client_cpu(pgid)
            gate = {"closed_s": relay.gate.closed_s, "switches": relay.gate.switches}
            relay.gate.disarm()
            set_priority("normal" if priority != "none" else "none", pgid)  # the next page's sessions open quickly
            for context, _, _ in opened:
                await context.close()
    client = cpu_between(client0, client1)
    concurrent = in_flight([iv for _, page, _ in opened for iv in page.wire.intervals(t0)])
    page_s = [times for times, _, _ in reruns]
    server_s = [answers for _, answers, _ in reruns]
    sent_mb = [b / 1e6 for _, _, sizes in reruns for b in sizes]
    flat_page = [t for session in page_s for t in session]
    flat_server = [t for session in server_s for t in session]
    return {"page": path, "first_render_s": [o[2] for o in opened], "reruns_s": page_s, "server_s": server_s,
            "moves_wall_s": wall, "rerun_median_s": statistics.median(flat_page), "rerun_max_s": max(flat_page),
            "server_median_s": statistics.median(flat_server), "server_max_s": max(flat_server),
            "rerun_p95_s": p95(flat_page), "server_p95_s": p95(flat_server),
            "sent_mb_median": statistics.median(sent_mb),
            "rss_before_mb": rss_before, "rss_open_mb": rss_open, "rss_after_mb": rss_after,
            "server_cpu_moves_s": cpu1 - cpu0, "client_cpu_moves_s": client["total"],
            "render_cpu_moves_s": client["render"], "browser_cpu_moves_s": client["browser"],
            "load_1min_start": load0, "load_1min_end": os.getloadavg()[0],
            "in_flight_mean": concurrent[0], "in_flight_max": concurrent[1],
            "gate_closed_s": gate["closed_s"], "gate_switches": gate["switches"],
            "client_threads": threads[0], "client_threads_idle": threads[1], "client_threads_nice19": threads[2],
            "warm": warm, "warm_s": warm_s, "warm_server_s": warm_server_s}


async def drive(url: str, pages: list[str], sessions: int, moves: int, timeout_s: float, pgid: int,
                priority: str, warm: bool = False, profile: Path | None = None) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + LIGHT_ARGS)
        relay = Relay(url)
        try:
            return [await drive_page(browser, relay, path, sessions, moves, timeout_s, pgid, priority, warm,
                                     None if profile is None else profile.with_suffix(f".{path}{profile.suffix}"))
                    for path in pages]
        finally:
            await browser.close()
            relay.close()


def report(out: dict) -> list[str]:
    """The printed lines: a table per page and the one-line summary (also kept in ``out["summary"]``)."""
    limit = out["limit_s"]
    verdict = lambda seconds: "met" if seconds <= limit else "NOT met"  # noqa: E731 - NaN (no answer): NOT met
    lines = [f"project {out['project']} (built in {out['build_s']:.0f} s); server ready in {out['server_start_s']:.1f} "
             f"s on 127.0.0.1, idle RSS {out['rss_idle_mb']:.0f} MB; {os.cpu_count()} cores; browser renderers at "
             f"priority {out['client_priority']} (see the docstring)",
             "NOTE: the machine is shared (other processes' load stretches every time); load average printed per page",
             "each cell: seconds until the page was idle again / until the server's script_finished arrived"]
    summary = []
    for r in out["pages"]:
        n = sum(len(s) for s in r["reruns_s"])
        lines += [f"— {r['page']}: {out['sessions']} sessions, first render median "
                  f"{statistics.median(r['first_render_s']):.1f} s, max {max(r['first_render_s']):.1f} s",
                  f"{'session':<9}" + "".join(f"{'move ' + str(i + 1):>13}" for i in range(out["moves"]))]
        lines += [f"{k + 1:<9}" + "".join(f"{f'{t:.2f}/{a:.2f}':>13}" for t, a in zip(page, server))
                  for k, (page, server) in enumerate(zip(r["reruns_s"], r["server_s"]))]
        if r["warm"]:
            lines.append("warm-up (one session alone, first at each IoU): " + ", ".join(
                f"{t:.2f}/{a:.2f}" for t, a in zip(r["warm_s"], r["warm_server_s"])) + " s; the moves below find "
                "every IoU's data cached")
        lines += [f"page rerun:    median {r['rerun_median_s']:.2f} s, p95 {r['rerun_p95_s']:.2f} s, max "
                  f"{r['rerun_max_s']:.2f} s (limit {limit:g} s: {verdict(r['rerun_max_s'])})",
                  f"server answer: median {r['server_median_s']:.2f} s, p95 {r['server_p95_s']:.2f} s, max "
                  f"{r['server_max_s']:.2f} s (limit {limit:g} s: {verdict(r['server_max_s'])})",
                  f"all moves {r['moves_wall_s']:.1f} s; CPU during the moves: server {r['server_cpu_moves_s']:.1f} s "
                  f"({r['server_cpu_moves_s'] / n:.2f} s per rerun), browser {r['client_cpu_moves_s']:.1f} s "
                  f"(renderers+GPU {r['render_cpu_moves_s']:.1f} s, browser process+driver {r['browser_cpu_moves_s']:.1f} s); "
                  f"load {r['load_1min_start']:.1f} -> {r['load_1min_end']:.1f}; the server sent "
                  f"{r['sent_mb_median']:.2f} MB per rerun (median)",
                  f"reruns in flight at the server at once (from the wire): mean {r['in_flight_mean']:.1f}, max "
                  f"{r['in_flight_max']} of {out['sessions']} sessions",
                  f"client threads (Chromium, driver) during the moves: {r['client_threads']}, at SCHED_IDLE "
                  f"{r['client_threads_idle']}, at nice 19 {r['client_threads_nice19']}"
                  + (f"; gate: SCHED_IDLE while a rerun was in flight, {r['gate_closed_s']:.1f} s of the "
                     f"{r['moves_wall_s']:.1f} s ({r['gate_switches']} switches)" if out['client_priority'] == "gate"
                     else ""),
                  f"server RSS: {r['rss_before_mb']:.0f} MB before, {r['rss_open_mb']:.0f} MB with the sessions "
                  f"rendered, {r['rss_after_mb']:.0f} MB after the moves"]
        summary.append(f"{r['page']}: server answer median {r['server_median_s']:.2f} s / p95 "
                       f"{r['server_p95_s']:.2f} s / max {r['server_max_s']:.2f} s ({verdict(r['server_max_s'])}), "
                       f"page idle median {r['rerun_median_s']:.2f} s / max {r['rerun_max_s']:.2f} s "
                       f"({verdict(r['rerun_max_s'])}), server CPU {r['server_cpu_moves_s'] / n:.2f} s per rerun, "
                       f"browser CPU {r['client_cpu_moves_s']:.0f} s"
                       f"{' (data cached: --warm)' if r['warm'] else ''}, RSS "
                       f"{r['rss_open_mb'] / 1024:.1f} -> {r['rss_after_mb'] / 1024:.1f} GB, load "
                       f"{r['load_1min_end']:.1f}")
    out["summary"] = (f"{out['sessions']} sessions x {out['moves']} IoU moves, limit {limit:g} s: "
                      + "; ".join(summary))
    return lines + ["summary: " + out["summary"]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--project", type=Path, help="an existing detection project folder")
    src.add_argument("--images", type=int, help="build bench_scale's synthetic project of this many images")
    ap.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions (default 10, at most 32)")
    ap.add_argument("--moves", type=int, default=3, help="slider moves per session and page (default 3, at most 9)")
    ap.add_argument("--pages", default="model_metrics",
                    help="comma-separated page URL paths, one after the other (default model_metrics)")
    ap.add_argument("--limit", type=float, default=3.0, help="seconds a rerun may take (default 3 = 1 s target x 3)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a server answer took longer than --limit")
    ap.add_argument("--timeout", type=float, default=300, help="seconds any single wait may take (default 300)")
    ap.add_argument("--client-priority", choices=("nice", "gate", "idle", "none"), default="nice",
                    help="CPU priority of the browsers while they move: nice = niceness 19 (default); gate = "
                         "SCHED_IDLE while the server works on a rerun, normal otherwise; idle = SCHED_IDLE + nice 19 "
                         "throughout (both can starve the tabs on a loaded machine); none = unchanged")
    ap.add_argument("--warm", action="store_true",
                    help="one session moves through the IoUs first, alone: the timed reruns then find the data cached "
                         "(the per-session cost of a rerun)")
    ap.add_argument("--py-spy", dest="py_spy", type=Path,
                    help="record the server with py-spy during the moves (raw collapsed stacks; one file per page: "
                         "FILE.<page>.SUFFIX)")
    ap.add_argument("--keep", type=Path, help="build the project here (reused when present) instead of a temp dir")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args(argv)
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    if not 1 <= args.sessions <= 32 or not 1 <= args.moves <= 9 or not 1 <= len(pages) <= 9:
        ap.error("--sessions must be 1..32, --moves 1..9 (bounded: IoU 0.50 + 9 x 0.05 = 0.95), 1..9 pages")
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found (Debian's chromium package)")

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_load_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    project = args.project or build_project(args.images, work)
    built = time.perf_counter() - t0
    # SIGTERM (timeout(1), a CI runner) unwinds like Ctrl-C, so the server is stopped on the way out
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    t0 = time.perf_counter()
    try:
        server = start_server([project], work / "server.log", timeout=args.timeout, cwd=REPO)
    except ServerError as e:
        raise SystemExit(str(e))
    started = time.perf_counter() - t0
    try:
        rss_idle, _ = group_stats(server.pid)
        results = asyncio.run(drive(server.url, pages, args.sessions, args.moves, args.timeout, server.pid,
                                    args.client_priority, args.warm, args.py_spy))
    except PageError as e:
        raise SystemExit(f"{e}\n--- server log:\n{server.log_tail()}")
    except Exception as e:  # a wait ran past --timeout (Playwright's TimeoutError): said in one line, no traceback
        if type(e).__name__ != "TimeoutError":
            raise
        raise SystemExit(f"a wait took longer than --timeout {args.timeout:g} s: {str(e).splitlines()[0]}\n"
                         f"--- server log:\n{server.log_tail()}")
    finally:
        server.stop()
    out = {"project": str(project), "sessions": args.sessions, "moves": args.moves, "limit_s": args.limit,
           "client_priority": args.client_priority,
           "build_s": built, "server_start_s": started, "rss_idle_mb": rss_idle, "pages": results,
           # the server's answers (the issue: the server stays responsive); the page times are printed beside them
           "all_within_limit": all(r["server_max_s"] <= args.limit for r in results)}
    print("\n".join(report(out)))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 1 if args.strict and not out["all_within_limit"] else 0


if __name__ == "__main__":
    sys.exit(main())
