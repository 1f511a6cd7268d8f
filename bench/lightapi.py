"""A fake EVS job API light enough not to be the limit of a benchmark: a bare asyncio protocol, HTTP/1.1
with keep-alive, every `GET .../jobs/{job_id}` answered after `--latency` seconds with the documented
ShowJob body for that job (RUNNING, or SUCCESS with `--finished`), anything else 404. It checks no
signature and keeps no state, so one request costs it some tens of microseconds; `--workers N` runs N
processes on one port (SO_REUSEPORT). Loopback only.

    python bench/lightapi.py --port 18080 [--latency 0.05] [--finished] [--workers 1] [--precise]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import selectors
import signal
import socket

HOST = "127.0.0.1"
BEGIN = "2026-12-01T10:00:00.000Z"
END = "2026-12-01T10:05:00.000Z"


def body(job_id: str, finished: bool) -> bytes:
    """huaweicloudsdkevs.v2 ShowJobResponse, as the document's example has it."""
    return json.dumps(
        {
            "status": "SUCCESS" if finished else "RUNNING",
            "entities": {"volume_id": "c2d1e8b8-3f0a-4a52-9d8c-0e7a1b2c3d4e"},
            "job_id": job_id,
            "job_type": "createVolume",
            "begin_time": BEGIN,
            "end_time": END if finished else "",
            "error_code": None,
            "fail_reason": None,
        },
        separators=(",", ":"),
    ).encode()


def response(status: str, payload: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


PLACEHOLDER = b"JOB_ID_PLACEHOLDER_0000000000000"
RUNNING = response("200 OK", body(PLACEHOLDER.decode(), False))
FINISHED = response("200 OK", body(PLACEHOLDER.decode(), True))
NOT_FOUND = response("404 Not Found", b'{"error":{"code":"EVS.0004","message":"job not found"}}')


class JobApi(asyncio.Protocol):
    def __init__(self, latency: float, finished: bool) -> None:
        self.latency, self.finished = latency, finished
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self.answer(head.split(b"\r\n", 1)[0])

    def answer(self, request_line: bytes) -> None:
        parts = request_line.split(b" ")
        path = parts[1].split(b"?", 1)[0] if len(parts) == 3 else b""
        segments = path.rsplit(b"/", 2)
        if parts[0] == b"GET" and len(segments) == 3 and segments[1] == b"jobs" and len(segments[2]) <= 64:
            # The documented body with this job's ID, from a template made once (a few microseconds).
            job = segments[2]
            if len(job) == len(PLACEHOLDER):  # same length: Content-Length stays right
                out = (FINISHED if self.finished else RUNNING).replace(PLACEHOLDER, job)
            else:
                out = response("200 OK", body(job.decode("latin-1"), self.finished))
        else:
            out = NOT_FOUND
        if self.latency:
            self.loop.call_later(self.latency, self.send, out)
        else:
            self.send(out)

    def send(self, out: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, latency: float, finished: bool) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    sock.listen(4096)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: JobApi(latency, finished), sock=sock)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


class PreciseSelector(selectors.EpollSelector):
    """epoll waits in whole milliseconds, and Python rounds a wait up: asyncio's timers fire up to 1 ms
    late (a 50 ms latency would be 50.5 on average). This one waits the whole milliseconds only and
    polls through the rest, so that an answer leaves on time; the polling costs CPU, for a process with
    a core of its own (bench.py pins it)."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            timeout = (math.floor(timeout * 1000) - 0.01) / 1000  # below one millisecond: 0, a poll
        return super().select(timeout)


def run(port: int, latency: float, finished: bool, precise: bool = False) -> None:
    if not precise:
        asyncio.run(serve(port, latency, finished))
        return
    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(PreciseSelector())) as runner:
        runner.run(serve(port, latency, finished))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--finished", action="store_true", help="answer SUCCESS instead of RUNNING")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--precise", action="store_true", help="answer on time to the microsecond (polls)")
    args = parser.parse_args()
    work = (args.port, args.latency, args.finished, args.precise)
    workers = [multiprocessing.Process(target=run, args=work, daemon=True) for _ in range(args.workers - 1)]
    for worker in workers:
        worker.start()
    try:
        run(*work)
    finally:
        for worker in workers:
            if worker.pid:
                os.kill(worker.pid, signal.SIGTERM)
            worker.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
