// bench/link_emulator.cc — rgpu_link: a userspace TCP relay that behaves like a slower link
// (this kernel has no netem). Benchmarks and tests put it between the shim and a server, or
// between a server and the pool.
//
//   rgpu_link --to HOST:PORT [--listen HOST:PORT] [--delay-ms D] [--jitter-ms J]
//             [--rate-mbit R] [--port-file F]
//
// Each connection accepted on --listen (default 127.0.0.1:0) is relayed to --to, both ways.
// Each direction is modelled as its own link: bytes are serialised at R Mbit/s (0: no limit),
// then arrive D ms later, ± up to J ms (uniform), never out of order (TCP does not reorder: a
// byte never overtakes one sent before it, so under a steady stream the delays cluster towards
// D + J). Setting up a connection costs its round trip as TCP's handshake would: connect()
// returns at once here, but nothing the client sends goes on the wire before 2·D after the
// relay accepted it (when a real connect() would have returned). So a connection's first
// answer comes 4·D after its connect (as on a real link), a round trip costs 2·D and a
// transfer of B bytes B·8/R s more. At most max(1 MiB, 4 · R · (D + J)) bytes are in flight per
// direction; past that the relay stops reading and TCP's flow control pushes back on the sender, as
// a full bottleneck queue would. A half-close (EOF) is passed on once everything before it has
// arrived; a reset or error on either side closes both.
//
// Prints one line (the listening address and the link) and, with --port-file, writes the port
// it listens on (for --listen ...:0). Runs until killed.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

struct Link {
  double delay_ms = 0, jitter_ms = 0, rate_mbit = 0;
  size_t cap_bytes() const {
    const double bdp = rate_mbit * 1e6 / 8 * (delay_ms + jitter_ms) / 1e3;
    return std::max<size_t>(1 << 20, static_cast<size_t>(4 * bdp));
  }
};

[[noreturn]] void usage_error(const std::string& why) {
  fprintf(stderr, "rgpu_link: %s (see --help)\n", why.c_str());
  exit(2);
}

bool split_host_port(const std::string& s, std::string* host, std::string* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  *host = s.substr(0, colon);
  *port = s.substr(colon + 1);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  return true;
}

double non_negative(const char* flag, const char* v) {
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(v, &end);
  if (errno || end == v || *end || !std::isfinite(d) || d < 0)
    usage_error(std::string(flag) + " takes a number >= 0, not '" + v + "'");
  return d;
}

// Connects to host:port; -1 with errno's message in *why.
int dial(const std::string& host, const std::string& port, std::string* why) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    *why = gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    *why = strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

void no_delay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// One relayed connection: both sockets, closed when both directions are done.
struct Pair {
  int a, b;
  ~Pair() {
    close(a);
    close(b);
  }
  void cut() {  // wakes the other direction too
    shutdown(a, SHUT_RDWR);
    shutdown(b, SHUT_RDWR);
  }
};

// Relays in -> out through `link` until in's EOF has been passed on, or either side fails.
// open_at: nothing read from `in` goes on the wire before then (the handshake's round trip).
void pump(std::shared_ptr<Pair> pair, int in, int out, Link link, unsigned seed,
          Clock::time_point open_at) {
  struct Chunk {
    Clock::time_point due;
    std::string bytes;
    size_t sent = 0;
  };
  std::deque<Chunk> q;
  size_t queued = 0;
  bool eof = false;
  Clock::time_point wire_free{}, last_due{};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(-link.jitter_ms, link.jitter_ms);
  const size_t cap = link.cap_bytes();
  char buf[16384];
  for (;;) {
    Clock::time_point now = Clock::now();
    bool write_blocked = false;
    while (!q.empty() && q.front().due <= now) {
      Chunk& c = q.front();
      const ssize_t n =
          send(out, c.bytes.data() + c.sent, c.bytes.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        write_blocked = true;
        break;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return pair->cut();
      c.sent += static_cast<size_t>(n);
      if (c.sent == c.bytes.size()) queued -= c.bytes.size(), q.pop_front();
    }
    if (eof && q.empty()) {
      shutdown(out, SHUT_WR);
      return;
    }
    pollfd fds[2];
    nfds_t n = 0;
    const bool reading = !eof && queued < cap;
    if (reading) fds[n++] = {in, POLLIN, 0};
    if (write_blocked) fds[n++] = {out, POLLOUT, 0};
    timespec ts{}, *timeout = nullptr;
    if (!q.empty() && !write_blocked) {
      const auto wait = std::max(Clock::duration::zero(), q.front().due - now);
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      ts.tv_sec = ns / 1000000000;
      ts.tv_nsec = ns % 1000000000;
      timeout = &ts;
    }
    if (ppoll(fds, n, timeout, nullptr) < 0 && errno != EINTR) return pair->cut();
    if (reading && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t got = recv(in, buf, sizeof buf, MSG_DONTWAIT);
      if (got == 0) {
        eof = true;
      } else if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return pair->cut();
      } else {
        now = Clock::now();
        const auto on_wire = std::chrono::duration<double, std::micro>(
            link.rate_mbit > 0 ? static_cast<double>(got) * 8 / link.rate_mbit : 0);
        wire_free = std::max({wire_free, now, open_at}) +
                    std::chrono::duration_cast<Clock::duration>(on_wire);
        const double ms = std::max(0.0, link.delay_ms + (link.jitter_ms > 0 ? jitter(rng) : 0));
        Clock::time_point due = wire_free + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double, std::milli>(ms));
        due = std::max(due, last_due);
        last_due = due;
        q.push_back({due, std::string(buf, static_cast<size_t>(got))});
        queued += static_cast<size_t>(got);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", to, port_file;
  Link link;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      printf(
          "usage: rgpu_link --to HOST:PORT [--listen HOST:PORT] [--delay-ms D] [--jitter-ms J]\n"
          "                 [--rate-mbit R] [--port-file F]\n"
          "Relays each TCP connection accepted on --listen (default 127.0.0.1:0) to --to, each\n"
          "direction through an emulated link: R Mbit/s (0: unlimited), then a one-way delay of\n"
          "D ms +/- J ms, bytes never reordered. --port-file: where to write the port listened\n"
          "on. Runs until killed.\n");
      return 0;
    }
    if (i + 1 >= argc) usage_error(a + (a.rfind("--", 0) == 0 ? " needs a value" : ": unknown"));
    const char* v = argv[++i];
    if (a == "--to")
      to = v;
    else if (a == "--listen")
      listen = v;
    else if (a == "--port-file")
      port_file = v;
    else if (a == "--delay-ms")
      link.delay_ms = non_negative("--delay-ms", v);
    else if (a == "--jitter-ms")
      link.jitter_ms = non_negative("--jitter-ms", v);
    else if (a == "--rate-mbit")
      link.rate_mbit = non_negative("--rate-mbit", v);
    else
      usage_error("unknown argument " + a);
  }
  std::string to_host, to_port, host, port;
  if (to.empty()) usage_error("--to HOST:PORT is required");
  if (!split_host_port(to, &to_host, &to_port)) usage_error("--to takes HOST:PORT, not " + to);
  if (!split_host_port(listen, &host, &port))
    usage_error("--listen takes HOST:PORT, not " + listen);
  signal(SIGPIPE, SIG_IGN);

  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    fprintf(stderr, "rgpu_link: cannot listen on %s: %s\n", listen.c_str(), gai_strerror(rc));
    return 1;
  }
  const int ls = socket(res->ai_family, SOCK_STREAM, 0);
  int one = 1;
  if (ls >= 0) setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ls < 0 || bind(ls, res->ai_addr, res->ai_addrlen) != 0 || ::listen(ls, 128) != 0) {
    fprintf(stderr, "rgpu_link: cannot listen on %s: %s\n", listen.c_str(), strerror(errno));
    return 1;
  }
  freeaddrinfo(res);
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len);
  const unsigned bound =
      ntohs(sa.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port
                                     : reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  printf(
      "rgpu_link: %s:%u -> %s, one-way %.3g ms +/- %.3g ms, %s\n", host.c_str(), bound, to.c_str(),
      link.delay_ms, link.jitter_ms,
      link.rate_mbit > 0 ? (std::to_string(link.rate_mbit) + " Mbit/s").c_str() : "no rate limit");
  fflush(stdout);
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    FILE* f = fopen(tmp.c_str(), "w");
    if (!f || fprintf(f, "%u\n", bound) < 0 || fclose(f) != 0 ||
        rename(tmp.c_str(), port_file.c_str()) != 0) {
      fprintf(stderr, "rgpu_link: cannot write %s: %s\n", port_file.c_str(), strerror(errno));
      return 1;
    }
  }
  for (unsigned seed = 1;; seed += 2) {
    const int c = accept(ls, nullptr, nullptr);
    const Clock::time_point accepted = Clock::now();
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      fprintf(stderr, "rgpu_link: accept: %s\n", strerror(errno));
      return 1;
    }
    std::string why;
    const int s = dial(to_host, to_port, &why);
    if (s < 0) {
      fprintf(stderr, "rgpu_link: cannot reach %s: %s (connection dropped)\n", to.c_str(),
              why.c_str());
      close(c);
      continue;
    }
    no_delay(c);
    no_delay(s);
    auto pair = std::shared_ptr<Pair>(new Pair{c, s});
    const auto handshake = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::milli>(2 * link.delay_ms));
    std::thread(pump, pair, c, s, link, seed, accepted + handshake).detach();
    std::thread(pump, pair, s, c, link, seed + 1, Clock::time_point{}).detach();
  }
}
