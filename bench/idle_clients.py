#!/usr/bin/env python3
"""Many logged-in, idle client connections to myshard (the memory and limits benchmark).

    bench/idle_clients.py --port P --clients N [--query-burst] [--expect-limit]

Opens N connections to 127.0.0.1:P one after the other, logs each in (user app, schema s0,
mysql_native_password, computed here with hashlib: no driver needed), then:

  --query-burst   sends `SELECT 1` on every connection at once and reads all the answers,
                  so that N statements compete for the backend pool;
  --expect-limit  checks that connection N+1 is refused with error 1040 (SQLSTATE 08004),
                  closes one connection and checks that a new one is then accepted.

It prints progress lines starting with "idle_clients:", then "READY" and waits, holding
every connection, until a line arrives on standard input (or it closes), then closes all.
Exits non-zero on the first unexpected answer.
"""

import argparse
import hashlib
import socket
import struct
import sys
import time

USER = b"app"
PASSWORD = b"app-secret"
SCHEMA = b"s0"

LONG_PASSWORD = 0x1
CONNECT_WITH_DB = 0x8
PROTOCOL_41 = 0x200
TRANSACTIONS = 0x2000
SECURE_CONNECTION = 0x8000
PLUGIN_AUTH = 0x80000


def log(msg):
    print(f"idle_clients: {msg}", flush=True)


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_packet(sock):
    header = read_exact(sock, 4)
    length = header[0] | header[1] << 8 | header[2] << 16
    return header[3], read_exact(sock, length)


def send_packet(sock, seq, payload):
    sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload)


def native_scramble(nonce, password):
    stage1 = hashlib.sha1(password).digest()
    stage2 = hashlib.sha1(stage1).digest()
    mix = hashlib.sha1(nonce + stage2).digest()
    return bytes(a ^ b for a, b in zip(stage1, mix))


def greeting_nonce(payload):
    if payload[:1] == b"\xff":
        code = struct.unpack("<H", payload[1:3])[0]
        raise RuntimeError(f"error {code} instead of a greeting: {payload[3:]!r}")
    end = payload.index(b"\0", 1) + 1
    part1 = payload[end + 4 : end + 12]
    part2_at = end + 12 + 1 + 2 + 1 + 2 + 2 + 1 + 10
    part2 = payload[part2_at : part2_at + 12]
    return part1 + part2


def parse_err(payload):
    code = struct.unpack("<H", payload[1:3])[0]
    if payload[3:4] == b"#":
        return code, payload[4:9].decode(), payload[9:].decode(errors="replace")
    return code, "", payload[3:].decode(errors="replace")


def connect(port):
    """Returns (socket, None) when logged in, or (None, (code, state, message)) when refused."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _, greeting = read_packet(sock)
    if greeting[:1] == b"\xff":
        sock.close()
        return None, parse_err(greeting)
    nonce = greeting_nonce(greeting)
    caps = (
        LONG_PASSWORD
        | CONNECT_WITH_DB
        | PROTOCOL_41
        | TRANSACTIONS
        | SECURE_CONNECTION
        | PLUGIN_AUTH
    )
    auth = native_scramble(nonce, PASSWORD)
    response = (
        struct.pack("<IIB", caps, 1 << 24, 45)
        + b"\0" * 23
        + USER
        + b"\0"
        + bytes([len(auth)])
        + auth
        + SCHEMA
        + b"\0"
        + b"mysql_native_password\0"
    )
    send_packet(sock, 1, response)
    _, reply = read_packet(sock)
    if reply[:1] == b"\x00":
        return sock, None
    sock.close()
    if reply[:1] == b"\xff":
        return None, parse_err(reply)
    raise RuntimeError(f"unexpected login reply {reply[:16]!r}")


def read_select_one(sock):
    """Reads the response to SELECT 1 (column count, column, EOF, row, EOF)."""
    _, first = read_packet(sock)
    if first[:1] == b"\xff":
        raise RuntimeError("SELECT 1 failed: %s %s %s" % parse_err(first))
    packets = 0
    while True:
        _, p = read_packet(sock)
        packets += 1
        if p[:1] == b"\xfe" and len(p) < 9:
            if packets > 2:
                return
        if p[:1] == b"\xff":
            raise RuntimeError("SELECT 1 failed: %s %s %s" % parse_err(p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--query-burst", action="store_true")
    ap.add_argument("--expect-limit", action="store_true")
    args = ap.parse_args()

    conns = []
    started = time.monotonic()
    for i in range(args.clients):
        sock, refused = connect(args.port)
        if refused:
            raise SystemExit(f"idle_clients: client {i + 1} refused: {refused}")
        conns.append(sock)
        if (i + 1) % 2000 == 0:
            log(f"{i + 1} logged in")
    log(f"{len(conns)} clients logged in in {time.monotonic() - started:.1f} s")

    if args.query_burst:
        started = time.monotonic()
        for sock in conns:
            send_packet(sock, 0, b"\x03SELECT 1")
        for sock in conns:
            read_select_one(sock)
        log(f"SELECT 1 on all {len(conns)} connections at once: {time.monotonic() - started:.2f} s")

    if args.expect_limit:
        sock, refused = connect(args.port)
        if sock is not None:
            raise SystemExit(f"idle_clients: client {args.clients + 1} was accepted over the limit")
        code, state, message = refused
        if code != 1040 or state != "08004":
            raise SystemExit(f"idle_clients: client {args.clients + 1} refused with {refused}")
        log(f"client {args.clients + 1} refused: ERROR {code} ({state}): {message}")
        send_packet(conns[0], 0, b"\x01")  # COM_QUIT
        conns.pop(0).close()
        deadline = time.monotonic() + 10
        while True:
            sock, refused = connect(args.port)
            if sock is not None:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"idle_clients: no slot freed after a disconnect: {refused}")
            time.sleep(0.05)
        send_packet(sock, 0, b"\x03SELECT 1")
        read_select_one(sock)
        conns.append(sock)
        log("after one client quit, a new client was accepted and served")

    log("READY")
    print("READY", flush=True)
    sys.stdin.readline()
    for sock in conns:
        sock.close()
    log("closed")


if __name__ == "__main__":
    main()
