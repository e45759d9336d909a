#!/usr/bin/python3
"""A small echo client for the device tests: opens N connections at once to HOST:PORT,
sends SIZE bytes on each (a pattern that differs per connection), reads them back,
checks every byte, and closes. Prints one JSON line: connections that completed, that
failed and why, and the elapsed time. Runs inside the test's network namespace.

  echo_client.py HOST PORT CONNECTIONS SIZE [--timeout S] [--shutdown-first]
"""
import argparse
import json
import selectors
import socket
import sys
import time


def pattern(index: int, size: int) -> bytes:
    seed = f"conn{index:06d}:".encode()
    reps = size // len(seed) + 1
    return (seed * reps)[:size]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("connections", type=int)
    ap.add_argument("size", type=int)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--close-after-send", action="store_true",
                    help="half-close (shutdown SHUT_WR) right after sending, so the peer sees FIN first")
    a = ap.parse_args()

    sel = selectors.DefaultSelector()
    state = {}
    start = time.monotonic()
    for i in range(a.connections):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((a.host, a.port))
        st = {"i": i, "out": pattern(i, a.size), "sent": 0, "got": bytearray(), "done": False, "error": None}
        state[s] = st
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)

    ok = 0
    errors = {}
    pending = len(state)
    while pending and time.monotonic() - start < a.timeout:
        for key, ev in sel.select(timeout=0.5):
            s, st = key.fileobj, key.data
            try:
                if ev & selectors.EVENT_WRITE and st["sent"] < len(st["out"]):
                    n = s.send(st["out"][st["sent"]:st["sent"] + 65536])
                    st["sent"] += n
                    if st["sent"] == len(st["out"]):
                        if a.close_after_send:
                            s.shutdown(socket.SHUT_WR)
                        sel.modify(s, selectors.EVENT_READ, st)
                if ev & selectors.EVENT_READ:
                    data = s.recv(65536)
                    if data:
                        st["got"] += data
                    if not data or len(st["got"]) >= a.size:
                        if len(st["got"]) == a.size and bytes(st["got"]) == st["out"]:
                            ok += 1
                        else:
                            reason = "short" if len(st["got"]) < a.size else "mismatch"
                            errors[reason] = errors.get(reason, 0) + 1
                        sel.unregister(s)
                        s.close()
                        pending -= 1
            except OSError as e:
                errors[e.__class__.__name__] = errors.get(e.__class__.__name__, 0) + 1
                sel.unregister(s)
                s.close()
                pending -= 1
    if pending:
        errors["timeout"] = pending
    print(json.dumps({"ok": ok, "errors": errors, "seconds": round(time.monotonic() - start, 3)}))
    return 0 if ok == a.connections else 1


if __name__ == "__main__":
    sys.exit(main())
