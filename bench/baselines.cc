// bench/baselines.cc — raw socket baselines (see baselines.h).
#include "bench/baselines.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench/host_buffer.h"
#include "protocol/transport.h"

namespace rgpu::bench {

namespace {
using Clock = std::chrono::steady_clock;

struct Pair {
  std::unique_ptr<net::Stream> a, b;
};

Pair connect_pair(const std::string& where, const net::TlsConfig* s = nullptr,
                  const net::TlsConfig* c = nullptr) {
  auto l = net::Listener::listen(net::Endpoint::parse(where), s);
  auto ep = l->local();
  Pair p;
  std::thread t([&] { p.b = l->accept(); });
  p.a = net::connect(ep, c);
  t.join();
  return p;
}
}  // namespace

double raw_pingpong_ns(bool unix_socket, size_t bytes, int iters, bool poll) {
  std::string where =
      unix_socket ? "unix:/tmp/rgpu-bench-" + std::to_string(getpid()) + ".sock" : "127.0.0.1:0";
  Pair p = connect_pair(where);
  std::vector<char> buf(bytes, 1), back(bytes);
  std::thread echo([&] {
    std::vector<char> m(bytes);
    for (int i = 0; i < iters + 100; ++i) {
      p.b->read_exact(m.data(), bytes);
      p.b->write_all(m.data(), bytes);
    }
  });
  for (int i = 0; i < 100; ++i) {
    p.a->write_all(buf.data(), bytes);
    p.a->read_exact(back.data(), bytes);
  }
  // Polling: the reply is read without blocking, retried until it is all in (the caller's
  // thread never sleeps, as the shim's sync wait while it spins).
  auto read_reply = [&] {
    if (!poll) return p.a->read_exact(back.data(), bytes);
    for (size_t have = 0, got = 0; have < bytes; have += got)
      if (!p.a->try_read_some(back.data() + have, bytes - have, &got)) got = 0;
  };
  auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) {
    p.a->write_all(buf.data(), bytes);
    read_reply();
  }
  auto t1 = Clock::now();
  echo.join();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / iters;
}

// The best plain sockets do for the same transfer: one warm-up transfer (TCP slow start,
// first-touch page faults and socket buffer growth are not what a steady data plane pays), then
// kReps timed transfers on the same connection, each until the reader's 1-byte ack; the median
// of those. Like a copy of `span` bytes, the writer sends from a span-byte source and the reader
// lands the bytes in a span-byte destination (walking through both, `chunk` bytes per write), so
// the baseline moves the same memory a copy does rather than recycling one cache-warm buffer.
// Both buffers are HostBuffers (2 MiB-aligned, huge pages where THP allows), as the shim's are.
static double bulk(Pair& p, size_t total, size_t chunk, size_t span) {
  constexpr int kReps = 5;
  span = std::max(span, chunk);
  HostBuffer out(span, 7);
  std::thread sink([&] {
    HostBuffer in(std::max<size_t>(span, 1 << 20));
    for (int r = 0; r <= kReps; ++r) {
      size_t left = total, at = 0;
      while (left > 0) {
        if (at == in.size()) at = 0;
        size_t n = p.b->read_some(in.data() + at, std::min(in.size() - at, left));
        if (n == 0) return;
        left -= n;
        at += n;
      }
      p.b->write_all("k", 1);
    }
  });
  std::vector<double> rates;
  for (int r = 0; r <= kReps; ++r) {
    auto t0 = Clock::now();
    size_t left = total, at = 0;
    while (left > 0) {
      if (at + chunk > out.size()) at = 0;
      size_t n = std::min(chunk, left);
      p.a->write_all(out.data() + at, n);
      left -= n;
      at += n;
    }
    char k;
    p.a->read_exact(&k, 1);  // the receiver has everything
    auto t1 = Clock::now();
    if (r > 0) rates.push_back(total / std::chrono::duration<double>(t1 - t0).count());
  }
  sink.join();
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

double raw_bulk_bytes_per_s(size_t total, size_t chunk, size_t span) {
  Pair p = connect_pair("127.0.0.1:0");
  return bulk(p, total, chunk, span);
}

double raw_tls_bulk_bytes_per_s(size_t total, size_t chunk, size_t span, const std::string& dir) {
  net::TlsConfig s{dir + "/server.pem", dir + "/server.key", dir + "/ca.pem", ""};
  net::TlsConfig c{dir + "/client.pem", dir + "/client.key", dir + "/ca.pem", ""};
  Pair p = connect_pair("127.0.0.1:0", &s, &c);
  return bulk(p, total, chunk, span);
}

// Certificates issued as users issue them (scripts/make-certs.sh; RGPU_MAKE_CERTS overrides
// where the script is): a CA, a server named for loopback, a client.
bool make_test_pki(const std::string& dir) {
  const char* env = std::getenv("RGPU_MAKE_CERTS");
  const std::string script = env && *env ? env : RGPU_MAKE_CERTS;
  const std::string mk = "bash '" + script + "' --dir '" + dir + "' ";
  std::string cmd = "mkdir -p '" + dir + "' && " + mk + "ca && " + mk +
                    "server server --san DNS:localhost,IP:127.0.0.1 && " + mk + "client client";
  return std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0;
}

}  // namespace rgpu::bench
