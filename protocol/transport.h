// protocol/transport.h — blocking byte streams over TCP, Unix sockets and TLS, for both planes.
//
// Contract:
// - Endpoint::parse accepts "host:port", "[v6]:port", "tcp://host:port" and "unix:/path"
//   (or any string starting with '/'); errors name the bad input.
// - Threads: a Stream has at most one reader and one writer at a time (never two readers, never
//   two writers); the reader and the writer may be different threads at once (the socket is
//   full duplex). Callers enforce this (interpose/lane.h: reads under the lane's call lock,
//   writes under its batch lock or by its sender thread; a server lane is one thread).
//   shutdown() may be called from any thread. A TLS stream keeps the same promise although an
//   OpenSSL SSL object allows one thread at a time: every SSL call runs under the stream's own
//   lock on a non-blocking socket, and a call that would block waits in poll() without it.
// - read_exact/write_all either complete or throw
//   NetError: kClosed when the peer closed cleanly between messages, kBroken when it vanished
//   mid-message or the connection failed, kTimeout, kTls for handshake/certificate failures.
//   No call ever raises SIGPIPE.
// - TLS is OpenSSL 3 with mutual certificate checks when TlsConfig has a CA: the server asks for
//   and verifies the client's certificate, the client verifies the server's, both against ca_file,
//   the client also its name (SAN) and both the other's role (extended key usage; TlsConfig).
// - TCP streams have TCP_NODELAY set: the data plane is latency-bound.
// - TCP streams detect a vanished peer (power cut, NAT drop, cable: no FIN, no RST) within
//   peer_timeout_seconds(): keepalive probes while idle, TCP_USER_TIMEOUT while data waits for
//   an acknowledgement; the next or pending read/write then fails with kBroken. 0: off.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace rgpu::net {

class NetError : public std::runtime_error {
 public:
  enum Kind { kClosed, kBroken, kTimeout, kRefused, kTls, kProtocol, kInvalid };
  NetError(Kind k, const std::string& what) : std::runtime_error(what), kind_(k) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct Endpoint {
  enum Kind { kTcp, kUnix } kind = kTcp;
  std::string host;  // kTcp
  uint16_t port = 0;
  std::string path;  // kUnix

  static Endpoint parse(std::string_view text);  // throws NetError(kInvalid)
  std::string str() const;
};

struct TlsConfig {
  std::string cert_file;  // our certificate (PEM)
  std::string key_file;   // our private key (PEM)
  std::string ca_file;    // CA that must have signed the peer's certificate; empty: no check
  // Client side: the name or IP to find in the server's certificate's subjectAltName; connect()
  // fills in the host it dials when this is empty. A client must have ca_file (TLS that
  // verifies nobody is refused), and each end checks the other's extended key usage: serverAuth
  // for servers and the pool, clientAuth for clients (scripts/make-certs.sh issues both).
  std::string server_name;
  // The whole handshake (every message of it, however slowly the peer drips them) must finish
  // within this; a peer that stalls gets NetError(kTimeout).
  int handshake_timeout_ms = 10000;
};

class Stream {
 public:
  virtual ~Stream() = default;
  virtual void write_all(const void* data, size_t len) = 0;
  virtual void writev_all(const struct iovec* iov, int iovcnt) = 0;
  virtual void read_exact(void* data, size_t len) = 0;
  // Reads at least 1 byte unless the peer closed (returns 0).
  virtual size_t read_some(void* data, size_t len) = 0;
  // read_some() without blocking: false (and nothing read) when no byte is there yet. A stream
  // that cannot tell blocks like read_some() and returns true (plain sockets and TLS can tell).
  virtual bool try_read_some(void* data, size_t len, size_t* got) {
    *got = read_some(data, len);
    return true;
  }
  // Every read from now on must finish by `deadline` (all the reads together, however slowly the
  // peer drips bytes) or throws NetError(kTimeout); time_point{} (the default) lifts it. Servers
  // set one for everything they read before a peer has authenticated.
  virtual void set_read_deadline(std::chrono::steady_clock::time_point deadline) = 0;
  virtual void shutdown() = 0;  // both directions; a blocked reader wakes with kClosed
  virtual int fd() const = 0;
  virtual std::string peer() const = 0;  // address, for logs
  virtual bool is_tls() const { return false; }
  virtual std::string peer_certificate_subject() const { return ""; }
};

// Connects, with TLS if `tls` is non-null. timeout_ms bounds connect and handshake. `preamble`
// bytes, if any, are sent in plaintext right after the connection is made, before the TLS
// handshake (lane_preamble.h).
std::unique_ptr<Stream> connect(const Endpoint& ep, const TlsConfig* tls = nullptr,
                                int timeout_ms = 10000, const std::string& preamble = "");

// Wraps an already connected socket (e.g. one handed over with SCM_RIGHTS). With tls, runs the
// server side (`server` true) or client side of the handshake first.
std::unique_ptr<Stream> adopt(int fd, const TlsConfig* tls = nullptr, bool server = true);

// Process-wide, for streams made afterwards (default 60 s; rgpu-server --peer-timeout).
void set_peer_timeout_seconds(int seconds);
int peer_timeout_seconds();

// The peer of a connected socket for logs: "1.2.3.4:5678", "[v6]:port", "unix", or "?".
std::string peer_name(int fd);

class Listener {
 public:
  // Binds and listens; port 0 picks a free port (see local()). A Unix path is replaced if stale.
  static std::unique_ptr<Listener> listen(const Endpoint& ep, const TlsConfig* tls = nullptr);
  virtual ~Listener() = default;
  // Blocks for the next connection. With TLS the handshake runs here; a failed handshake
  // throws NetError(kTls) and the listener stays usable.
  virtual std::unique_ptr<Stream> accept() = 0;
  // Accepts the raw socket without any handshake (the caller passes it on). -1 when there is
  // none to take now (EINTR; EAGAIN on a non-blocking listener; out of descriptors).
  virtual int accept_fd() = 0;
  virtual Endpoint local() const = 0;
  virtual int fd() const = 0;
  virtual void close() = 0;
};

}  // namespace rgpu::net
