"""A label printer on 127.0.0.1 for tests: a raw TCP listener, as a Zebra's port 9100 is,
keeping every byte it was sent; and what it received rendered with zplkit and decoded with
zxing-cpp, as a printed label would be scanned."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import zplkit
from flask import Flask
from PIL import Image

from tests.decoding import decode

Behaviour = Literal["prints", "resets", "never_confirms"]


class FakePrinter:
    """``prints``: reads until the sender closes, keeps it, closes (a working printer).
    ``resets``: takes the connection and drops it at once with a reset (a printer in error).
    ``never_confirms``: reads everything and never closes its side (a wedged print server).

    ``on_job`` runs in the printer's thread once a job is read in full, before the printer
    confirms: what the server holds while it waits can be looked at from there."""

    def __init__(self, behaviour: Behaviour = "prints") -> None:
        self.behaviour = behaviour
        self.received: list[bytes] = []
        self.on_job: Callable[[bytes], None] | None = None
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            worker = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            if self.behaviour == "resets":
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            chunks = []
            while data := connection.recv(65536):
                chunks.append(data)
            job = b"".join(chunks)
            self.received.append(job)
            if self.on_job is not None:
                try:
                    self.on_job(job)
                except BaseException as error:  # reported by the test, not lost in a thread
                    self.errors.append(error)
            if self.behaviour == "never_confirms":
                self._stop.wait(30)

    def close(self) -> None:
        self._stop.set()
        # Closing alone leaves the accepting thread blocked in accept() on Linux; shutting the
        # listener down wakes it at once (it would otherwise hold every test for its timeout).
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for worker in self._threads:
            worker.join(timeout=5)
        self._accepting.join(timeout=5)


@contextmanager
def fake_printer(behaviour: Behaviour = "prints") -> Iterator[FakePrinter]:
    printer = FakePrinter(behaviour)
    try:
        yield printer
    finally:
        printer.close()
    assert not printer.errors, printer.errors


def refusing_port() -> int:
    """A port on 127.0.0.1 nothing listens on: connecting is refused, as a printer that is
    switched on with its raw port closed refuses."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def unanswering_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose connections are never answered: a listener that accepts
    nobody, its queue filled, so the kernel drops further attempts (Linux), as a switched-off
    printer's address drops them."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def allow_local_printers(app: Flask, *ports: int, timeout: float = 2.0) -> None:
    """Let the app reach printers on 127.0.0.1 (and only there), on these ports (the fake
    printers'; 9100 too, for registering), with a short timeout."""
    app.config["BIOBANK_PRINTER_NETWORKS"] = (ipaddress.ip_network("127.0.0.1/32"),)
    app.config["BIOBANK_PRINTER_PORTS"] = tuple((port, port) for port in (9100, *ports))
    app.config["BIOBANK_PRINTER_TIMEOUT"] = timeout


FORMAT = re.compile(rb"\^XA.*?\^XZ", re.DOTALL)


def rendered_labels(zpl: bytes, dpi: int = 300) -> list[Image.Image]:
    """Every label in ``zpl`` as the printer would image it (zplkit, a ZD621 at ``dpi``)."""
    formats = FORMAT.findall(zpl)
    images = []
    for start in range(0, len(formats), 50):  # zplkit renders at most 64 labels per call
        chunk = b"\n".join(formats[start : start + 50])
        document = zplkit.render(chunk, zplkit.Options(profile="zd621", dpi=dpi))
        for label in document.labels:
            raster = label.rasterize()
            images.append(Image.frombytes("L", (raster.width, raster.height), raster.pixels))
    return images


def scanned(zpl: bytes, dpi: int = 300) -> list[str]:
    """What a scanner reads off each printed label, label by label (one symbol each)."""
    found = []
    for image in rendered_labels(zpl, dpi):
        [(_, text)] = decode(image)
        found.append(text)
    return found
