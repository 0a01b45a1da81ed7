"""TLS in front of the embedded broker, which cannot serve it itself (Tansu 0.6).

Tansu 0.6 takes a certificate and a key (``broker --cert C --key K``) but its command line
refuses the two together: "error: the argument '--cert <CERT>' cannot be used with '--key
<KEY>'" (both options sit in one exclusive argument group, still so upstream), and it needs
both to serve TLS. So :class:`streams.kafka.broker.EmbeddedBroker` started with a certificate runs
Tansu on a second loopback port, advertising this process's port, and this process in front
of it: it accepts TLS on the advertised port and relays each connection's bytes, decrypted,
to Tansu and back. Clients see a broker that speaks TLS: they verify its certificate and host
name as they would a Kafka broker's, and SASL (``SASL_SSL``) goes through to Tansu inside
the TLS session. A client that does not speak TLS is dropped at the handshake.

    python -m streams.kafka.tls_terminator --port 9093 --origin-port 40123 --cert c.pem --key k.pem
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import ssl

__all__ = ["main", "serve"]

_CHUNK = 256 * 1024

log = logging.getLogger(__name__)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side ends, then close ``writer`` (which ends the other pipe too)."""
    with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _relay(
    origin_port: int, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
) -> None:
    try:
        origin_reader, origin_writer = await asyncio.open_connection("127.0.0.1", origin_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(_pipe(client_reader, origin_writer), _pipe(origin_reader, client_writer))


async def serve(port: int, origin_port: int, cert: str, key: str) -> None:
    """Accept TLS on loopback ``port`` and relay each connection to ``origin_port``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = await asyncio.start_server(
        functools.partial(_relay, origin_port), "127.0.0.1", port, ssl=context
    )
    log.info("TLS on 127.0.0.1:%s -> 127.0.0.1:%s", port, origin_port)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m streams.kafka.tls_terminator")
    parser.add_argument("--port", type=int, required=True, help="loopback port to serve TLS on")
    parser.add_argument("--origin-port", type=int, required=True, help="the broker's port")
    parser.add_argument("--cert", required=True, help="PEM certificate (chain) of the broker")
    parser.add_argument("--key", required=True, help="PEM private key of the certificate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args.port, args.origin_port, args.cert, args.key))


if __name__ == "__main__":
    main()
