#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py BUILD_DIR — writes the seed corpora in tests/fuzz/corpus/ from real
artefacts: frames encoded with the project's own schema (`capnp encode`), nvcc outputs the build
made (cubins, fatbins, PTX), leases in their wire and text forms. Run it again after a schema or
format change and commit what it writes."""
import base64, os, struct, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
SCHEMA = os.path.join(ROOT, "protocol", "schema", "data_plane.capnp")
CONTROL = os.path.join(ROOT, "protocol", "control", "control_plane.capnp")
MAGIC = 0x55504752
HELLO, REPLY, REQUEST, BATCH, BULK, GOODBYE = 1, 4, 3, 5, 6, 7


def capnp(schema, struct_name, text):
    return subprocess.run(["capnp", "encode", schema, struct_name], input=text.encode(),
                          capture_output=True, check=True).stdout


def frame(kind, meta, payload=b"", claimed=None):
    n = len(payload) if claimed is None else claimed
    return struct.pack("<IHHIIQ", MAGIC, kind, 0, len(meta), 0, n) + meta + payload


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    hello = capnp(SCHEMA, "Hello", '(protocolVersion = 4, minProtocolVersion = 3, '
                  'clientName = "vecadd[4242]", vaBase = 35184372088832)')
    join = capnp(SCHEMA, "Hello", '(protocolVersion = 4, minProtocolVersion = 3, joinSession = 7, '
                 'joinKey = 0x"00112233445566778899aabbccddeeff")')
    secret = capnp(SCHEMA, "Hello", '(protocolVersion = 4, secret = "s3cret", clientName = "x")')
    old = capnp(SCHEMA, "Hello", '(protocolVersion = 2, minProtocolVersion = 1)')
    req = capnp(SCHEMA, "Request", '(op = 3, args = 0x"0010000000000000", seq = 1)')
    bye = capnp(SCHEMA, "Goodbye", '(reason = "the program exited")')
    put("hello", "plain", frame(HELLO, hello))
    put("hello", "join", frame(HELLO, join))
    put("hello", "secret_then_request", frame(HELLO, secret) + frame(REQUEST, req) + frame(GOODBYE, bye))
    put("hello", "old_version", frame(HELLO, old))
    put("hello", "promised_payload", frame(HELLO, hello, claimed=1 << 20))
    put("hello", "request_first", frame(REQUEST, req))
    for name in ("plain", "join", "promised_payload"):
        put("opening", name, open(os.path.join(OUT, "hello", name), "rb").read())
    put("opening", "health", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    put("opening", "preamble", b"RGPJ" + struct.pack("<IQ", 1, 7) + b"\x16\x03\x01\x00\x10")
    put("opening", "tls_client_hello", b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03" + b"\x00" * 32)

    def chunk(offset, length, zero=False, compressed=False, last=False, payload=b""):
        meta = capnp(SCHEMA, "BulkChunk", "(offset = %d, length = %d, zero = %s, compressed = %s, "
                     "last = %s)" % (offset, length, str(zero).lower(), str(compressed).lower(),
                                     str(last).lower()))
        return frame(BULK, meta, payload)
    put("bulk_chunk", "raw_then_zero", struct.pack("<H", 4096) + chunk(0, 2048, payload=b"\x5a" * 2048)
        + chunk(2048, 2048, zero=True, last=True))
    # A real LZ4 block: literal-only sequence of 16 bytes ('token' 0xF0 + length 1 + literals).
    lz4 = bytes([0xF0, 0x01]) + b"0123456789abcdef"
    put("bulk_chunk", "lz4", struct.pack("<H", 16) + chunk(0, 16, compressed=True, last=True, payload=lz4))
    put("bulk_chunk", "past_end", struct.pack("<H", 100) + chunk(90, 20, payload=b"\x01" * 20))

    def record(op, args, payload=b""):
        body = struct.pack("<HHIII", op, 0, len(args), len(payload), 0) + args + payload
        return body + b"\x00" * (-len(body) % 8)
    recs = [record(3, struct.pack("<Q", 4096)),
            record(6, struct.pack("<QQQQ", 0x200000000000, 64, 0, 0), b"\xab" * 64),
            record(20, b"\x00" * 48, b"\x00" * 28)]
    put("batch", "three", struct.pack("<I", 3) + b"".join(recs))
    put("batch", "count_too_high", struct.pack("<I", 9) + b"".join(recs))
    put("batch", "overlong", struct.pack("<I", 1) + b"".join(recs))

    put("param_layout", "vec_add", struct.pack("<I", 4) + struct.pack("<8I", 0, 8, 8, 8, 16, 8, 24, 4))
    put("param_layout", "overlap", struct.pack("<I", 2) + struct.pack("<4I", 0, 8, 4, 8))
    put("param_layout", "empty", struct.pack("<I", 0))

    images = [("server/server_kernels.cubin", "cubin"), ("server/server_kernels.fatbin", "fatbin"),
              ("image/artifacts/kernels_compress_all.fatbin", "fatbin_zstd"),
              ("image/artifacts/kernels_ptx_only.fatbin", "fatbin_ptx_only"),
              ("image/artifacts/kernels_multi.fatbin", "fatbin_multi"),
              ("image/artifacts/kernels_rdc.cubin", "cubin_rdc"),
              ("e2e/ptx/vecadd.ptx", "vecadd.ptx"), ("e2e/ptx/train_loop.ptx", "train_loop.ptx")]
    for rel, name in images:
        path = os.path.join(build, "tests", rel)
        data = open(path, "rb").read()
        if len(data) > 65536:
            print("skipping %s: %d bytes (over -max_len)" % (rel, len(data)))
            continue
        put("image", name, data)

    # The PTX executor: real nvcc PTX (the conformance kernels, the bench kernels, e2e ones).
    for rel, name in [("tests/sim/ptx_kernels.ptx", "conformance.ptx"),
                      ("bench/sim_kernels.ptx", "bench.ptx"),
                      ("tests/e2e/ptx/vecadd.ptx", "e2e_vecadd.ptx"),
                      ("tests/e2e/ptx/train_loop.ptx", "e2e_train_loop.ptx")]:
        put("ptx", name, open(os.path.join(build, rel), "rb").read())

    claims = capnp(CONTROL, "LeaseClaims", '(leaseId = "0123456789abcdef0123456789abcdef", '
                   'endpoint = "127.0.0.1:7071", providerId = "p-1a2b3c4d", gpuIndex = 0, '
                   'vramBytes = 1073741824, issuedUnix = 1799999900, expiresUnix = 1800000200)')
    lease = b"RGL1" + struct.pack("<I", len(claims)) + claims + b"\x07" * 64
    put("lease", "wire", lease)
    put("lease", "text", base64.urlsafe_b64encode(lease).rstrip(b"="))
    put("lease", "hex", lease.hex().encode())
    put("lease", "pem_key", b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n")

    put("pool_inputs", "schedule", b"\x0022:00-07:00,12:00-13:00")
    put("pool_inputs", "schedule_always", b"\x00always")
    put("pool_inputs", "policy", b"\x01binpack")
    put("pool_inputs", "role", b"\x02provider")
    put("pool_inputs", "pool_endpoint", b"\x03pool.example.org")
    put("pool_inputs", "endpoint_v6", b"\x04[::1]:7071")
    put("pool_inputs", "endpoint_unix", b"\x04unix:/run/rgpu.sock")
    print("seeds written to", OUT)


main()
