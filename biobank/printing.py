"""A print job sent to a label printer: the three steps of ``services.collecting.printers``
around the network, used alike by the web pages and the API.

1. One short transaction writes the job (``sending``) and commits it.
2. The ZPL goes to the printer over raw TCP with no transaction open and nothing locked. The
   printer's host name is looked up, every address found is checked against the printer
   networks and ports (a name that now points elsewhere is refused), and the server connects
   to an address it checked. Each step waits ``BIOBANK_PRINTER_TIMEOUT`` seconds at most
   (looking up the name, connecting, each chunk of bytes, the printer's confirmation).
3. A second short transaction records the outcome: ``sent`` with the tubes' label events, or
   ``failed`` with the reason and nothing recorded as printed.

"The printer took the bytes" means what the CUPS socket backend waits for: every byte sent,
our side of the connection closed, and the printer closing its side in turn. A printer that
takes the connection but never confirms within the timeout fails the job, and the message
says some labels may have come out.

If the record of a sent job cannot be committed, it is tried once more in a fresh
transaction; if that fails too the job stays ``sending`` (committed in step 1: it is never
lost), the person is told the labels printed but are not recorded, and the answer is a 503.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from biobank.errors import PrinterUnavailable, ServiceUnavailable, describe_exception
from biobank.models import PrinterJob, User
from biobank.services.collecting import printers
from biobank.services.core.settings import setting
from biobank.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

CHUNK = 16 * 1024
# What a printer may send back on the raw port (status lines) before we stop reading.
MOST_READ_BACK = 64 * 1024


class PrintNotRecorded(ServiceUnavailable):
    title = "Printed, but not recorded"
    slug = "print-not-recorded"


@dataclass(frozen=True)
class Delivery:
    """How a send ended: the address the bytes went to (if a connection was made), and why
    the printer did not take them (None when it did)."""

    address: str | None
    failure: str | None


def print_to_printer(actor: User, printer_id: int, **subject) -> PrinterJob:
    """Print to a printer and record it: the sent job, or ``PrinterUnavailable`` (the failed
    job kept), or the refusal of step 1 (nothing written)."""
    with unit_of_work():
        _, outbound = printers.start_print_job(actor, printer_id, **subject)
    delivery = deliver(outbound, timeout=setting("BIOBANK_PRINTER_TIMEOUT"))
    job = _record(actor, outbound, delivery)
    if delivery.failure is not None:
        log.warning("print job %s to printer %s failed", outbound.job_id, outbound.printer_id)
        raise PrinterUnavailable(
            f"{delivery.failure} Nothing was recorded as printed (print job {outbound.job_id}).",
            print_job={"id": outbound.job_id, "status": "failed", "failure": delivery.failure},
        )
    log.info("print job %s sent to printer %s", outbound.job_id, outbound.printer_id)
    return job


def _record(actor: User, outbound: printers.Outbound, delivery: Delivery) -> PrinterJob:
    for attempt in (1, 2):
        try:
            with unit_of_work():
                return printers.finish_print_job(
                    actor, outbound, address=delivery.address, failure=delivery.failure
                )
        except SQLAlchemyError as error:
            log.error(
                "print job %s: recording its outcome failed (attempt %s): %s",
                outbound.job_id,
                attempt,
                describe_exception(error),
            )
    if delivery.failure is not None:
        raise PrinterUnavailable(
            f"{delivery.failure} Nothing was recorded as printed (print job {outbound.job_id})."
        )
    raise PrintNotRecorded(
        f"{outbound.printer_name} took the labels (print job {outbound.job_id}), but the server "
        "could not record them as printed: the job shows as unconfirmed. Check the labels "
        "came out before printing them again, and tell your administrator."
    )


# --- the network --------------------------------------------------------------------------------


def deliver(outbound: printers.Outbound, *, timeout: float) -> Delivery:
    """Send the job's ZPL to its printer; never raises for anything the printer does."""
    where = f"{outbound.printer_name} ({outbound.host}:{outbound.port})"
    problem = printers.port_problem(outbound.port)
    if problem:
        return Delivery(None, f"{outbound.printer_name} cannot be used: {problem}")
    found = _addresses(outbound.host, outbound.port, timeout)
    if isinstance(found, str):
        return Delivery(None, f"{outbound.printer_name}: {found}")
    allowed = [address for address in found if printers.address_problem(address) is None]
    if not allowed:
        refusal = printers.address_problem(found[0])
        return Delivery(
            None, f"{outbound.printer_name}: {outbound.host} is at {found[0]}. {refusal}"
        )
    connection, failure = _connect(allowed, outbound.port, timeout, where)
    if connection is None:
        return Delivery(None, failure)
    with connection:
        address = connection.getpeername()[0]
        return Delivery(address, _send(connection, outbound.content, timeout, where))


def _addresses(host: str, port: int, timeout: float) -> list[printers.IPAddress] | str:
    """The addresses ``host`` stands for, or why none were found (in ``timeout`` seconds)."""
    literal = printers.ip_literal(host)
    if literal is not None:
        return [literal]
    answer: dict[str, Any] = {}

    def look_up() -> None:
        try:
            answer["found"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            answer["error"] = error

    worker = threading.Thread(target=look_up, name="printer-lookup", daemon=True)
    worker.start()
    worker.join(timeout)
    if "found" not in answer:
        if "error" in answer or not worker.is_alive():
            return (
                f"the server cannot find {host} (no such host name): check the printer's host "
                "name, or register it by its IP address."
            )
        return f"looking up {host} took longer than {timeout:g} s: try again in a moment."
    addresses: list[printers.IPAddress] = []
    for *_, sockaddr in answer["found"]:
        address = printers.ip_literal(str(sockaddr[0]).split("%", 1)[0])
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        return f"the server cannot find {host}: check the printer's host name."
    return addresses


def _connect(
    addresses: list[printers.IPAddress], port: int, timeout: float, where: str
) -> tuple[socket.socket | None, str | None]:
    failure = None
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout=timeout), None
        except ConnectionRefusedError:
            failure = (
                f"{where} refused the connection: check that it is switched on and that port "
                f"{port} is its raw printing port."
            )
        except TimeoutError:
            failure = (
                f"{where} did not answer within {timeout:g} s: check that it is switched on "
                "and connected to the network."
            )
        except OSError as error:
            failure = (
                f"{where} cannot be reached ({error.strerror or type(error).__name__}): check "
                "that it is switched on and connected to the network."
            )
    return None, failure


def _send(connection: socket.socket, content: bytes, timeout: float, where: str) -> str | None:
    """Every byte to the printer, then wait for it to close its side: None when it did."""
    connection.settimeout(timeout)  # per chunk and per read: a long job is not cut short
    sent = 0
    try:
        for start in range(0, len(content), CHUNK):
            connection.sendall(content[start : start + CHUNK])
            sent = start + len(content[start : start + CHUNK])
        connection.shutdown(socket.SHUT_WR)
        read_back = 0
        while read_back <= MOST_READ_BACK:
            data = connection.recv(4096)
            if not data:
                return None  # the printer closed its side: it took everything
            read_back += len(data)
        return None  # a printer chatting back this much has read what we sent
    except TimeoutError:
        if sent < len(content):
            return (
                f"{where} stopped taking the labels ({sent} of {len(content)} bytes in "
                f"{timeout:g} s): check it for paper, ribbon or a pause. Some labels may have "
                "come out."
            )
        return (
            f"{where} took the labels but did not confirm within {timeout:g} s: check whether "
            "they came out before printing again."
        )
    except OSError as error:
        return (
            f"{where} broke off the connection ({error.strerror or type(error).__name__}) "
            "before confirming: check it for paper, ribbon or an error light. Some labels may "
            "have come out."
        )
