#!/usr/bin/python3
"""Long-lived echo connections from the kernel, for the flood tests: opens N connections
to HOST:PORT from source ports BASE..BASE+N-1 (so a flooder can aim at exactly those
4-tuples), then sends a small message on each and reads it back, round after round, until
the file STOP exists (bounded by --max-seconds). Every byte is checked. Then closes each
connection and waits for the server's FIN. Prints "established" once every connection is
up, and at the end one JSON line: connections, rounds, what failed and why.

  live_echo.py HOST PORT N BASE STOP [--max-seconds S] [--size B]
"""
import argparse
import json
import os
import socket
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("connections", type=int)
    ap.add_argument("base", type=int)
    ap.add_argument("stop")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()

    socks = []
    for i in range(a.connections):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", a.base + i))
        s.settimeout(10.0)
        s.connect((a.host, a.port))
        socks.append(s)
    print("established", flush=True)

    errors = {}
    alive = list(range(a.connections))
    rounds = 0
    deadline = time.monotonic() + a.max_seconds

    def fail(i, why):
        errors[why] = errors.get(why, 0) + 1
        alive.remove(i)
        socks[i].close()

    while alive and not os.path.exists(a.stop) and time.monotonic() < deadline:
        for i in list(alive):
            msg = (f"r{rounds:06d}c{i:04d}:".encode() * a.size)[:a.size]
            try:
                socks[i].sendall(msg)
                got = b""
                while len(got) < len(msg):
                    chunk = socks[i].recv(len(msg) - len(got))
                    if not chunk:
                        break
                    got += chunk
            except OSError as e:
                fail(i, e.__class__.__name__)
                continue
            if got != msg:
                fail(i, "short" if len(got) < len(msg) else "mismatch")
        rounds += 1
    if alive and not os.path.exists(a.stop):
        errors["no stop file"] = len(alive)

    closed = 0
    for i in alive:
        s = socks[i]
        try:
            s.shutdown(socket.SHUT_WR)
            # The echo server closes once it has seen our FIN: read to its FIN.
            while s.recv(4096):
                pass
            closed += 1
        except OSError as e:
            errors["close " + e.__class__.__name__] = errors.get("close " + e.__class__.__name__, 0) + 1
        s.close()
    print(json.dumps({"connections": a.connections, "rounds": rounds, "closed": closed, "errors": errors}),
          flush=True)
    return 0 if not errors and closed == a.connections else 1


if __name__ == "__main__":
    sys.exit(main())
