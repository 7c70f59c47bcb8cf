"""`flowprov nextflow serve`: an HTTP endpoint for `nextflow run ... -with-weblog URL`.

Each POST is validated at once (a malformed message gets 400 and a one-line reason, and nothing
is written) and answered at once; valid messages go to a queue that one writer thread records in
batches (`batch_size` messages, or whatever arrived within `max_delay` seconds), so a burst of
events never waits for the store. A batch that cannot be written is kept and tried again: nothing
is dropped. `stop()` records everything still queued before it returns.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from flowprov.integrations.nextflow.weblog import MAX_BODY, WeblogError, WeblogMessage, parse_message

READ_CHUNK = 1 << 16
POLL = 0.05  # seconds between the writer's looks at the queue while it gathers a batch


_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\nok\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client may send many messages on one connection
    disable_nagle_algorithm = True  # answer each small message at once, not after the client's delayed ACK
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
        body, problem = self._read_body()
        if problem is None:
            try:
                message = parse_message(body)
            except WeblogError as exc:
                problem = str(exc)
        if problem is not None:
            self.server.receiver.log(f"400 from {self.client_address[0]}: {problem}")
            self._answer(400, problem)
            return
        if not self.server.receiver.enqueue(message):  # stopping: say so rather than take what cannot be written
            self.close_connection = True
            self._answer(503, "the receiver is stopping")
            return
        self._answer(200, "ok")

    def do_GET(self) -> None:  # noqa: N802
        receiver = self.server.receiver
        self._answer(200, f"flowprov weblog receiver: {receiver.received} messages, {receiver.pending()} pending")

    def _read_body(self) -> tuple[bytes, str | None]:
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self.close_connection = True
            return b"", "a weblog message needs a Content-Length header"
        length = int(length_header)
        if length > MAX_BODY:  # read it away (the client sends it all before it reads the answer), keep none
            left = length
            while left > 0:
                chunk = self.rfile.read(min(READ_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
            return b"", f"body of {length:,} bytes is larger than the {MAX_BODY // 2**20} MiB a message may have"
        return self.rfile.read(length), None

    def _answer(self, code: int, text: str) -> None:
        if code == 200 and text == "ok" and not self.close_connection:
            self.wfile.write(_OK)  # the usual answer, prebuilt: one write, one packet
            return
        data = (text + "\n").encode()
        self.send_response_only(code)  # no per-request access log or Date header: thousands of messages a second
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # one line per problem is logged, not every request
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: WeblogReceiver


class WeblogReceiver:
    """The weblog HTTP server and its write-behind thread (see module doc)."""

    def __init__(
        self,
        store: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        batch_size: int = 10_000,
        max_delay: float = 1.0,  # a task's submitted/started/completed often land in one batch: one insert
        log_stream: TextIO | None = None,
    ):
        from flowprov.integrations.nextflow.live import LiveRecorder

        self.live = LiveRecorder(store)
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.log_stream = log_stream or sys.stderr
        self.received = 0
        self.errors = 0
        self._queue: queue.SimpleQueue[WeblogMessage] = queue.SimpleQueue()
        self._held: list[WeblogMessage] = []  # a batch whose write failed, tried again first
        self._stopping = threading.Event()
        self._closing = False  # no more messages are taken (kept-alive connections outlive shutdown())
        self._lock = threading.Lock()
        self.server = _Server((host, port), _Handler)
        self.server.receiver = self
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def log(self, line: str) -> None:
        print(f"flowprov nextflow serve: {line}", file=self.log_stream, flush=True)

    def enqueue(self, message: WeblogMessage) -> bool:
        """Queue a message for the writer; False once the receiver is stopping."""
        with self._lock:
            if self._closing:
                return False
            self.received += 1
            self._queue.put(message)
        return True

    def pending(self) -> int:
        return self._queue.qsize() + len(self._held)

    def start(self) -> WeblogReceiver:
        for target in (self.server.serve_forever, self._write_loop):
            thread = threading.Thread(target=target, daemon=True, name=f"flowprov-weblog-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, spool: bool = True) -> None:
        """Stop answering, then record every message that arrived. `spool=False` (the wrapper):
        after one failed final write, leave the rest in `live.rec` for the caller to spool."""
        with self._lock:
            self._closing = True
        self.server.shutdown()
        self.server.server_close()
        self._stopping.set()
        for thread in self._threads[1:]:
            thread.join()
        self._write_pending(final=True, spool=spool)

    # -- write-behind --------------------------------------------------------------------------
    def _next_batch(self) -> list[WeblogMessage]:
        """The held batch plus what arrives within `max_delay` of the first message (at most
        `batch_size`). The writer waits for the first message, then drains the queue every
        `POLL` seconds: not woken by each message (a thread switch per POST costs the HTTP
        threads more than the recording does)."""
        batch, self._held = self._held, []
        if not batch:
            try:
                batch.append(self._queue.get(timeout=self.max_delay))
            except queue.Empty:
                return batch
        deadline = time.monotonic() + self.max_delay
        while True:
            try:
                while len(batch) < self.batch_size:
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                pass
            timeout = deadline - time.monotonic()
            if len(batch) >= self.batch_size or timeout <= 0 or self._stopping.is_set():
                return batch
            self._stopping.wait(min(timeout, POLL))

    def _write_loop(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            if batch:
                self._write(batch)

    def _write(self, batch: list[WeblogMessage]) -> bool:
        try:
            self.live.apply(batch)
            return True
        except Exception as exc:  # the store is down or locked: keep the batch, say so, try again
            self.errors += 1
            self._held = batch + self._held
            self.log(f"could not record {len(batch)} message(s), will retry: {str(exc).splitlines()[0]}")
            time.sleep(min(5.0, 0.5 * self.errors))
            return False

    def _write_pending(self, final: bool, spool: bool = True) -> None:
        attempts = 0
        while self._held or not self._queue.empty():
            batch, self._held = self._held, []
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if not self._write(batch):
                attempts += 1
                if final and not spool:
                    self._buffer_rest()
                    return
                if final and attempts >= 5:
                    path = self.live.rec.spool()
                    self.log(f"the store cannot be written; {len(self._held)} message(s) kept in {path}")
                    return

    def _buffer_rest(self) -> None:
        """The store failed at the end: apply what is left to the Recorder's buffer (each flush
        fails at once, nothing retried or slept), for the caller to spool with its own records."""
        self.live.rec.retries = 0
        self._held = []  # the batch that failed is in the buffer already
        while not self._queue.empty():
            batch = [self._queue.get_nowait() for _ in range(min(self.batch_size, self._queue.qsize()))]
            try:
                self.live.apply(batch)
            except Exception:  # the flush failed; the messages are in the buffer all the same
                self.errors += 1


def serve(store: Any, host: str = "127.0.0.1", port: int = 0, log_stream: TextIO | None = None) -> int:
    """Receive weblog messages until SIGINT or SIGTERM, then record what is queued; returns 0."""
    import signal

    receiver = WeblogReceiver(store, host, port, log_stream=log_stream).start()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    receiver.log(
        f"listening on {receiver.url} (recording into {store.display_url}); run Nextflow with -with-weblog {receiver.url}"
    )
    try:
        stop.wait()
    finally:
        receiver.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    receiver.log(f"stopped: {receiver.received} message(s) received, {receiver.live.messages} recorded")
    return 0
