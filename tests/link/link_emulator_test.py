#!/usr/bin/env python3
"""tests/link/link_emulator_test.py RGPU_LINK — rgpu_link (bench/link_emulator.cc) relays bytes
intact and in order, never faster than the link it emulates (a round trip takes at least twice
the one-way delay; a transfer at least bytes / rate), passes a half-close on, survives a peer
that resets, and refuses bad arguments. Only lower bounds on time are asserted (and an upper
bound ten times as loose), so a slow machine cannot fail it."""
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

LINK = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def echo_server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)

    def serve(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    c.shutdown(socket.SHUT_WR)  # pass the half-close back
                    return
                c.sendall(b)

    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return s.getsockname()[1]


def start_link(target_port, *args):
    d = tempfile.mkdtemp()
    pf = os.path.join(d, "port")
    p = subprocess.Popen([LINK, "--to", "127.0.0.1:%d" % target_port, "--port-file", pf, *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if os.path.exists(pf):
            return p, int(open(pf).read())
        time.sleep(0.05)
    p.kill()
    raise SystemExit("rgpu_link did not start: " + p.stderr.read())


def rtt(port):
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(5):
        t = time.monotonic()
        c.sendall(b"x")
        assert c.recv(1) == b"x"
        times.append(time.monotonic() - t)
    c.close()
    return min(times)


def transfer(port, n):
    """Sends n random bytes and reads the echo back; returns (seconds, intact, eof_passed)."""
    data = os.urandom(n)
    c = socket.create_connection(("127.0.0.1", port))
    got = bytearray()

    def reader():
        while True:
            b = c.recv(65536)
            if not b:
                return
            got.extend(b)

    t = time.monotonic()
    r = threading.Thread(target=reader)
    r.start()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    r.join(30)
    secs = time.monotonic() - t
    c.close()
    return secs, hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), not r.is_alive()


echo = echo_server()
base = rtt(echo)

# Delay: a round trip costs two one-way delays.
p, port = start_link(echo, "--delay-ms", "25")
r = rtt(port)
check(r >= 0.050, "round trip over a 25 ms link takes >= 50 ms (%.1f ms)" % (r * 1e3))
check(r < 0.5, "... and not ten times that (%.1f ms)" % (r * 1e3))
secs, intact, eof = transfer(port, 2 << 20)
check(intact and eof, "2 MiB echoed intact, in order, half-close passed on both ways")
# Setting up a connection costs its handshake's round trip: a connection's first answer comes
# two round trips after its connect, as over a real link.
t = time.monotonic()
c = socket.create_connection(("127.0.0.1", port))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.sendall(b"x")
check(c.recv(1) == b"x", "the first byte is echoed")
first = time.monotonic() - t
c.close()
check(first >= 0.100, "connect to first answer over a 25 ms link takes >= 100 ms (%.1f ms)" % (first * 1e3))
check(first < 1.0, "... and not ten times that (%.1f ms)" % (first * 1e3))
p.kill()

# Rate: 1 MiB each way at 8 Mbit/s takes >= 1.05 s (the two directions overlap).
p, port = start_link(echo, "--rate-mbit", "8", "--delay-ms", "5")
secs, intact, eof = transfer(port, 1 << 20)
check(intact and eof, "1 MiB at 8 Mbit/s echoed intact")
check(secs >= (1 << 20) * 8 / 8e6 * 0.98, "1 MiB at 8 Mbit/s takes >= 1.05 s (%.2f s)" % secs)
check(secs < 10.5, "... and not ten times that (%.2f s)" % secs)
p.kill()

# Jitter never reorders: bytes stay in order (checked by the digest) with a wide jitter.
p, port = start_link(echo, "--delay-ms", "10", "--jitter-ms", "9")
secs, intact, eof = transfer(port, 1 << 20)
check(intact and eof, "1 MiB through a 10 +/- 9 ms link arrives in order")
# A client that resets mid-stream does not stop the relay serving the next one.
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"y" * 100000)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
c.close()
time.sleep(0.1)
secs, intact, eof = transfer(port, 1000)
check(intact and eof and p.poll() is None, "after a peer's reset the relay serves the next one")
p.kill()

# Bad arguments are refused, with a reason.
for args, why in [([], "--to"), (["--to", "nohost"], "HOST:PORT"),
                  (["--to", "127.0.0.1:1", "--delay-ms", "-3"], ">= 0"),
                  (["--to", "127.0.0.1:1", "--bogus", "1"], "unknown argument")]:
    q = subprocess.run([LINK, *args], capture_output=True, text=True, timeout=10)
    check(q.returncode == 2 and why in q.stderr, "rgpu_link %s is refused (%s)" % (" ".join(args), why))

print("FAIL: %d" % len(failures) if failures else "PASS")
sys.exit(1 if failures else 0)
