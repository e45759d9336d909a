"""A small HTTP server on the Linux kernel's TCP, the peer of linerate-client in the
device tests: it answers each request (up to the blank line) with a 200 and a body
of --body bytes, then either closes first (--close-first, as a web server without
keep-alive) or waits for the client to close. On SIGTERM it writes what it saw as
JSON: connections, requests, how each ended (clean EOF, reset) and errors, the
connections per local address and port (so a client cycling its targets can be
checked), and the distinct request heads it was sent (the first few).

Run with /usr/bin/python3 inside the test's network namespace; it listens only on the
address it is given.
"""
import argparse
import asyncio
import json
import signal

stats = {"connections": 0, "requests": 0, "eof": 0, "resets": 0, "errors": 0, "by_destination": {}, "heads": []}


async def handle(reader, writer, body, close_first):
    stats["connections"] += 1
    local = "%s:%d" % writer.get_extra_info("sockname")[:2]
    stats["by_destination"][local] = stats["by_destination"].get(local, 0) + 1
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        stats["requests"] += 1
        text = head.decode("latin-1")
        if text not in stats["heads"] and len(stats["heads"]) < 10:
            stats["heads"].append(text)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        if not close_first:
            # The client ends it: a FIN (read returns b"") or a reset.
            if await reader.read(1) == b"":
                stats["eof"] += 1
    except (ConnectionResetError, asyncio.IncompleteReadError) as e:
        if isinstance(e, ConnectionResetError) or not e.partial:
            stats["resets" if isinstance(e, ConnectionResetError) else "eof"] += 1
        else:
            stats["errors"] += 1
    except OSError:
        stats["errors"] += 1
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--address", required=True)
    ap.add_argument("--port", type=int, action="append", help="repeatable; default 8080")
    ap.add_argument("--body", type=int, default=64)
    ap.add_argument("--close-first", action="store_true")
    ap.add_argument("--stats", required=True)
    a = ap.parse_args()
    body = bytes((b"linerate kernel peer " * (a.body // 21 + 1))[: a.body])
    servers = [await asyncio.start_server(lambda r, w: handle(r, w, body, a.close_first), a.address, port,
                                          backlog=4096, reuse_address=True)
               for port in a.port or [8080]]
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    print("listening", flush=True)
    await done.wait()
    for s in servers:
        s.close()
    with open(a.stats, "w") as f:
        json.dump(stats, f)


asyncio.run(main())
