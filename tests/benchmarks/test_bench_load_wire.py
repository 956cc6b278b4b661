"""bench_load's wire timing, without a browser: the RFC 6455 frame scanner (``Frames``) finds exactly the rerun
requests and script_finished messages in byte streams cut at every possible place, unmasks the browser's frames,
counts large frames without decoding them; the ``Relay`` passes bytes through unchanged while timestamping (a
websocket server of Tornado, Streamlit's own server library, behind it); ``p95`` is the nearest rank."""
from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import struct
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_load", REPO / "benchmarks" / "bench_load.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


bench = _bench()
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402


def frame(payload: bytes, *, mask: bytes | None = None, opcode: int = 2) -> bytes:
    """One final frame as RFC 6455 writes it (7-bit, 16-bit or 64-bit length; masked when ``mask``)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def rerun() -> bytes:
    msg = BackMsg()
    msg.rerun_script.query_string = "a=1"
    return msg.SerializeToString()


def finished() -> bytes:
    msg = ForwardMsg()
    msg.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
    return msg.SerializeToString()


class Recorder:
    """A Wire's ``frame`` hook that remembers what it was given."""

    def __init__(self):
        self.frames = []

    def frame(self, to_server, payload, size):
        self.frames.append((to_server, payload, size))


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 13, 100, 1 << 20])
def test_frames_found_in_a_stream_cut_anywhere(cut):
    big = os.urandom(70_000)  # 64-bit length, counted not decoded
    mid = os.urandom(3_000)  # 16-bit length, over Wire.SMALL
    stream = (frame(finished()) + frame(big) + frame(b"") + frame(mid, opcode=1) + frame(finished()))
    rec = Recorder()
    scanner = bench.Frames(rec, to_server=False)
    for i in range(0, len(stream), cut):
        scanner.feed(stream[i:i + cut])
    assert rec.frames == [(False, finished(), len(finished())), (False, None, 70_000), (False, b"", 0),
                          (False, None, 3_000), (False, finished(), len(finished()))]


def test_browser_frames_are_unmasked():
    rec = Recorder()
    scanner = bench.Frames(rec, to_server=True)
    data = frame(rerun(), mask=b"\x01\x80\xfe\x33") + frame(b"\x00" * 200, mask=b"abcd")
    for byte in range(len(data)):  # one byte at a time: every header split
        scanner.feed(data[byte:byte + 1])
    assert rec.frames == [(True, rerun(), len(rerun())), (True, b"\x00" * 200, 200)]


def test_wire_times_a_rerun_request_to_its_script_finished():
    wire = bench.Wire(relay=None)
    before = time.perf_counter()
    wire.frame(False, finished(), 10)  # a finish before the request: not its answer
    wire.frame(True, b"\xff\xff not a message", 16)
    wire.frame(True, rerun(), 30)
    wire.frame(False, None, 5_000)
    wire.frame(False, finished(), 10)
    assert len(wire.sent) == 1 and len(wire.finished) == 2 and wire.received_bytes == 5_020
    answer = asyncio.run(wire.answer_time(before))
    assert answer == wire.finished[1] - wire.sent[0] and answer > 0
    assert math.isnan(asyncio.run(wire.answer_time(time.perf_counter(), timeout=0.05)))  # no request since


def test_p95_is_the_nearest_rank():
    assert bench.p95(list(range(1, 31))) == 29  # of 30 reruns the 29th smallest
    assert bench.p95([3.0]) == 3.0
    assert bench.p95(list(range(1, 21))) == 19
    assert bench.p95([1.0] * 19 + [float("nan")]) == 1.0 and math.isnan(bench.p95([1.0] * 9 + [float("nan")]))


def test_relay_passes_bytes_through_and_timestamps_the_wire():
    """Tornado websocket server: answers each rerun request with a 100 kB frame then script_finished."""
    import tornado.web
    import tornado.websocket

    class Handler(tornado.websocket.WebSocketHandler):
        def on_message(self, message):
            if BackMsg.FromString(message).WhichOneof("type") == "rerun_script":
                self.write_message(b"\x07" * 100_000, binary=True)
                self.write_message(finished(), binary=True)

    ready, box = threading.Event(), {}

    def serve():
        async def main():
            server = tornado.web.Application([(r"/ws", Handler)]).listen(0, "127.0.0.1")
            box["port"] = next(iter(server._sockets.values())).getsockname()[1]
            box["stop"] = asyncio.Event()
            ready.set()
            await box["stop"].wait()
            server.stop()

        box["loop"] = asyncio.new_event_loop()
        box["loop"].run_until_complete(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    relay = bench.Relay(f"http://127.0.0.1:{box['port']}")
    try:
        wire = relay.wire()

        async def client():
            import tornado.websocket

            ws = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{wire.port}/ws")
            got = []
            for _ in range(2):
                t0 = time.perf_counter()
                await ws.write_message(rerun(), binary=True)
                got += [await ws.read_message(), await ws.read_message()]
                got.append(await wire.answer_time(t0))
            ws.close()
            return got

        big, done, answer, big2, done2, answer2 = asyncio.run(client())
        assert big == big2 == b"\x07" * 100_000 and done == done2 == finished()  # unchanged through the relay
        assert len(wire.sent) == 2 and len(wire.finished) == 2 and wire.sent[0] < wire.finished[0] < wire.sent[1]
        assert answer == wire.finished[0] - wire.sent[0] and answer2 == wire.finished[1] - wire.sent[1]
        assert wire.received_bytes == 2 * (100_000 + len(finished()))
    finally:
        relay.close()
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)


def test_in_flight_counts_overlapping_reruns():
    # 0-1: one, 1-2: two, 2-3: one, (3-5 idle, not counted), 5-6: one -> mean (1 + 2 + 1 + 1) / 4 s, max 2
    assert bench.in_flight([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == (1.25, 2)
    assert bench.in_flight([(0.0, 1.0), (1.0, 2.0)]) == (1.0, 1)  # one ends as the next starts: never two
    assert bench.in_flight([]) == (0.0, 0)
