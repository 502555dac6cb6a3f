// protocol/tls.cc — TLS streams over OpenSSL 3 with mutual certificate checks.
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include <chrono>

#include "protocol/tls_internal.h"

namespace rgpu::net {

namespace {

std::string ssl_error_text(const char* what) {
  std::string s = what;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    s += ": ";
    s += buf;
  }
  return s;
}

// OpenSSL's socket BIO writes with plain write(), which raises SIGPIPE when the peer has gone;
// the shim lives inside other people's programs, so that signal must never reach them
// (transport.h). This BIO is OpenSSL's socket BIO with one change: writes use
// send(MSG_NOSIGNAL). No per-call signal-mask work on the hot path.
int write_nosignal(BIO* b, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(b, &fd);
  BIO_clear_retry_flags(b);
  ssize_t n = ::send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

const BIO_METHOD* socket_method_nosignal() {
  static BIO_METHOD* method = [] {
    const BIO_METHOD* base = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "rgpu socket (MSG_NOSIGNAL)");
    BIO_meth_set_write(m, write_nosignal);
    BIO_meth_set_read(m, BIO_meth_get_read(base));
    BIO_meth_set_puts(m, BIO_meth_get_puts(base));
    BIO_meth_set_gets(m, BIO_meth_get_gets(base));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(base));
    BIO_meth_set_create(m, BIO_meth_get_create(base));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(base));
    return m;
  }();
  return method;
}

// The subject CN of the certificate the peer presented, seen while OpenSSL verified it on this
// thread (each handshake runs on its caller's thread): a refused certificate is then named in
// the error, although OpenSSL keeps no peer certificate after a failed handshake.
thread_local std::string t_peer_cn;

int remember_peer(int preverify_ok, X509_STORE_CTX* store) {
  if (X509_STORE_CTX_get_error_depth(store) == 0) {
    char cn[256] = "?";
    if (X509* c = X509_STORE_CTX_get_current_cert(store))
      X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof cn);
    t_peer_cn = cn;
  }
  return preverify_ok;
}

// Empty when `peer` may play the role its side expects (see make_tls_stream), else why not.
// `wrong_role`: the chain check already found it lacks the role (OpenSSL's purpose check).
std::string role_problem(X509* peer, bool we_are_server, bool wrong_role = false) {
  const char* want = we_are_server ? "clientAuth" : "serverAuth";
  const char* role = we_are_server ? "client" : "server";
  if (!peer && !wrong_role) return std::string("the ") + role + " presented no certificate";
  char cn[256] = "?";
  std::snprintf(cn, sizeof cn, "%s", t_peer_cn.empty() ? "?" : t_peer_cn.c_str());
  if (peer) {
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    const uint32_t flags = X509_get_extension_flags(peer);
    const uint32_t xku = X509_get_extended_key_usage(peer);
    if (!wrong_role && (flags & EXFLAG_XKUSAGE) &&
        (xku & (we_are_server ? XKU_SSL_CLIENT : XKU_SSL_SERVER)))
      return "";
  }
  return std::string("the ") + role + "'s certificate (CN=" + cn + ") is not a " + role +
         " certificate: it lacks the " + want +
         " extended key usage (issue it with scripts/make-certs.sh " +
         (we_are_server ? "client" : "pool|server") + ")";
}

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

// One SSL_CTX per (config, side): loading certificates is slow and the CTX is thread-safe.
SSL_CTX* context_for(const TlsConfig& cfg, bool server) {
  static std::mutex mu;
  static std::map<std::tuple<std::string, std::string, std::string, bool>,
                  std::unique_ptr<SSL_CTX, CtxDeleter>>
      cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_tuple(cfg.cert_file, cfg.key_file, cfg.ca_file, server);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  std::unique_ptr<SSL_CTX, CtxDeleter> ctx(
      SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) throw NetError(NetError::kTls, ssl_error_text("SSL_CTX_new"));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_AUTO_RETRY | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  // A peer (or our own read-side shutdown, when a server ends a session and still sends its
  // Goodbye) closing without close_notify reads as a close, not a fatal error that also stops
  // writes. Frames carry their lengths, so a truncation is still caught by the framing.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  if (!cfg.cert_file.empty() &&
      SSL_CTX_use_certificate_chain_file(ctx.get(), cfg.cert_file.c_str()) != 1)
    throw NetError(NetError::kTls,
                   ssl_error_text(("cannot load certificate " + cfg.cert_file).c_str()));
  if (!cfg.key_file.empty() &&
      SSL_CTX_use_PrivateKey_file(ctx.get(), cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    throw NetError(NetError::kTls, ssl_error_text(("cannot load key " + cfg.key_file).c_str()));
  if (!server && cfg.ca_file.empty())
    throw NetError(NetError::kTls,
                   "TLS without a CA would trust anyone: name the CA that signed the server's "
                   "certificate (RGPU_TLS_CA for the shim, RGPU_POOL_TLS_CA or --pool-tls-ca for "
                   "the control plane)");
  if (!cfg.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), cfg.ca_file.c_str(), nullptr) != 1)
      throw NetError(NetError::kTls, ssl_error_text(("cannot load CA " + cfg.ca_file).c_str()));
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       remember_peer);
  }
  SSL_CTX* raw = ctx.get();
  cache.emplace(key, std::move(ctx));
  return raw;
}

// An SSL object must never be used by two threads at once (OpenSSL: undefined behaviour), but a
// lane has a reader and a writer that may be different threads (transport.h). So every SSL call
// runs under mu_, on a non-blocking socket: a call that would block releases mu_ and waits in
// poll() for the socket, then tries again. A reader waiting for a reply never holds up a writer.
class TlsStream final : public Stream {
 public:
  TlsStream(int fd, SSL* ssl) : fd_(fd), ssl_(ssl), peer_(peer_name(fd) + " (tls)") {}
  ~TlsStream() override {
    SSL_free(ssl_);
    ::close(fd_);
  }

  void write_all(const void* data, size_t len) override {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
      size_t written = 0;
      int want = 0;
      {
        std::lock_guard<std::mutex> g(mu_);
        int rc = SSL_write_ex(ssl_, p, len, &written);
        if (rc <= 0) want = wait_for(rc, "TLS write");  // throws on a real error
      }
      if (want) {
        wait(want);  // retried with the same buffer and length, as OpenSSL requires
        continue;
      }
      p += written;
      len -= written;
    }
  }

  void writev_all(const struct iovec* iov, int iovcnt) override {
    // Pieces are gathered into records of at most 16 KiB (one TLS record each): a frame's
    // header and meta share their record with the first payload bytes instead of going out as
    // a record (and a syscall) of their own; once the scratch is empty, the rest of a large
    // piece goes straight to SSL_write_ex (no copy; OpenSSL cuts it into full records).
    // scratch_ belongs to the writer (one at a time, transport.h).
    size_t fill = 0;
    for (int i = 0; i < iovcnt; ++i) {
      const char* p = static_cast<const char*>(iov[i].iov_base);
      size_t len = iov[i].iov_len;
      while (len > 0) {
        if (fill == 0 && len >= sizeof(scratch_)) {
          size_t whole = len / sizeof(scratch_) * sizeof(scratch_);
          write_all(p, whole);
          p += whole;
          len -= whole;
          continue;
        }
        size_t take = std::min(len, sizeof(scratch_) - fill);
        std::memcpy(scratch_ + fill, p, take);
        fill += take;
        p += take;
        len -= take;
        if (fill == sizeof(scratch_)) {
          write_all(scratch_, fill);
          fill = 0;
        }
      }
    }
    if (fill) write_all(scratch_, fill);
  }

  void read_exact(void* data, size_t len) override {
    char* p = static_cast<char*>(data);
    size_t got = 0;
    while (got < len) {
      size_t n = read_some(p + got, len - got);
      if (n == 0) {
        if (got == 0) throw NetError(NetError::kClosed, "peer closed the TLS connection");
        throw NetError(NetError::kBroken, "peer closed the TLS connection mid-message");
      }
      got += n;
    }
  }

  size_t read_some(void* data, size_t len) override {
    for (;;) {
      size_t n = 0;
      int want = 0;
      {
        std::lock_guard<std::mutex> g(mu_);
        int rc = SSL_read_ex(ssl_, data, len, &n);
        if (rc > 0) return n;
        int e = SSL_get_error(ssl_, rc);
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
          ERR_clear_error();
          return 0;  // the peer closed (or shutdown() was called)
        }
        want = wait_for(rc, "TLS read");
      }
      if (deadline_ != std::chrono::steady_clock::time_point{} &&
          std::chrono::steady_clock::now() >= deadline_)
        throw NetError(NetError::kTimeout, "the peer sent nothing in time");
      wait(want);
    }
  }

  // One SSL read on the non-blocking socket; false when it needs bytes that have not come.
  bool try_read_some(void* data, size_t len, size_t* got) override {
    std::lock_guard<std::mutex> g(mu_);
    size_t n = 0;
    int rc = SSL_read_ex(ssl_, data, len, &n);
    if (rc > 0) {
      *got = n;
      return true;
    }
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
      ERR_clear_error();
      *got = 0;  // the peer closed
      return true;
    }
    wait_for(rc, "TLS read");  // throws on a real error
    return false;
  }

  void set_read_deadline(std::chrono::steady_clock::time_point d) override { deadline_ = d; }
  void shutdown() override { ::shutdown(fd_, SHUT_RDWR); }
  int fd() const override { return fd_; }
  std::string peer() const override { return peer_; }
  bool is_tls() const override { return true; }
  std::string peer_certificate_subject() const override {
    std::lock_guard<std::mutex> g(mu_);
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (!cert) return "";
    char buf[512];
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
    X509_free(cert);
    return buf;
  }

 private:
  // After a failed SSL call (mu_ held): the poll() events to wait for, or throws the error.
  int wait_for(int rc, const char* what) {
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ) return POLLIN;
    if (e == SSL_ERROR_WANT_WRITE) return POLLOUT;
    if (e == SSL_ERROR_SYSCALL) {
      ERR_clear_error();
      throw NetError(NetError::kBroken, std::string(what) + ": connection broken");
    }
    throw NetError(NetError::kTls, ssl_error_text(what));
  }

  // Waits (mu_ not held) until the socket may be ready. The wait is bounded: the other side of
  // this stream may have moved the bytes we waited for into the SSL object meanwhile (a
  // handshake message read by a writer), so the call is simply tried again.
  void wait(int events) {
    pollfd p{fd_, static_cast<short>(events), 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR)
      throw NetError(NetError::kBroken, std::string("poll: ") + std::strerror(errno));
  }

  int fd_;
  SSL* ssl_;
  std::string peer_;
  std::chrono::steady_clock::time_point deadline_{};  // set_read_deadline(); read by the reader
  mutable std::mutex mu_;                             // every SSL call on ssl_
  char scratch_[16384];
};

}  // namespace

std::unique_ptr<Stream> make_tls_stream(int fd, const TlsConfig& cfg, bool server) {
  SSL_CTX* ctx;
  try {
    ctx = context_for(cfg, server);
  } catch (...) {
    ::close(fd);
    throw;
  }
  SSL* ssl = SSL_new(ctx);
  if (!ssl) {
    ::close(fd);
    throw NetError(NetError::kTls, ssl_error_text("SSL_new"));
  }
  BIO* bio = BIO_new(socket_method_nosignal());
  if (!bio) {
    SSL_free(ssl);
    ::close(fd);
    throw NetError(NetError::kTls, ssl_error_text("BIO_new"));
  }
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl, bio, bio);  // the SSL object owns the BIO now
  if (!server && !cfg.server_name.empty()) {
    // The dialled name or address must be in the certificate's subjectAltName (never its CN).
    in6_addr ip;
    const bool is_ip = ::inet_pton(AF_INET, cfg.server_name.c_str(), &ip) == 1 ||
                       ::inet_pton(AF_INET6, cfg.server_name.c_str(), &ip) == 1;
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), cfg.server_name.c_str())
                   : SSL_set1_host(ssl, cfg.server_name.c_str()) &&
                         SSL_set_tlsext_host_name(ssl, cfg.server_name.c_str());
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (ok != 1) {
      SSL_free(ssl);
      ::close(fd);
      throw NetError(NetError::kTls, "cannot check the server's name '" + cfg.server_name + "'");
    }
  }
  // The whole handshake runs on the non-blocking socket the stream then keeps (TlsStream), under
  // one deadline: a peer that stalls or drips bytes cannot hold this thread past it.
  int flags = fcntl(fd, F_GETFL, 0);
  int rc = (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) ? -1 : 0;
  bool timed_out = false;
  t_peer_cn.clear();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::max(cfg.handshake_timeout_ms, 1));
  while (rc == 0) {
    int r = server ? SSL_accept(ssl) : SSL_connect(ssl);
    if (r == 1) {
      rc = 1;
      break;
    }
    int e = SSL_get_error(ssl, r);
    short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) {
      rc = -1;
      break;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      timed_out = true;
      rc = -1;
      break;
    }
    pollfd p{fd, events, 0};
    if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) rc = -1;
  }
  if (timed_out) {
    SSL_free(ssl);
    ::close(fd);
    throw NetError(NetError::kTimeout, server ? "TLS handshake with client timed out"
                                              : "TLS handshake with server timed out");
  }
  if (rc != 1) {
    std::string msg = ssl_error_text(server ? "TLS handshake with client failed"
                                            : "TLS handshake with server failed");
    long vr = SSL_get_verify_result(ssl);
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
      msg += " (the server's certificate does not name '" + cfg.server_name +
             "', the address dialled, in its subjectAltName: reissue it with "
             "scripts/make-certs.sh --san, or dial a name it carries)";
    else if (vr == X509_V_ERR_INVALID_PURPOSE)
      msg += " (" + role_problem(SSL_get0_peer_certificate(ssl), server, true) + ")";
    else if (vr != X509_V_OK)
      msg += std::string(" (certificate: ") + X509_verify_cert_error_string(vr) + ")";
    SSL_free(ssl);
    ::close(fd);
    throw NetError(NetError::kTls, msg);
  }
  // The peer's certificate must carry the role it plays here: a client checks that the server
  // holds a serverAuth certificate, a server that checks clients wants clientAuth. A
  // certificate without extended key usage has no role (OpenSSL would let it be anything).
  if (!cfg.ca_file.empty()) {
    std::string why = role_problem(SSL_get0_peer_certificate(ssl), server);
    if (!why.empty()) {
      SSL_free(ssl);
      ::close(fd);
      throw NetError(NetError::kTls, why);
    }
  }
  return std::make_unique<TlsStream>(fd, ssl);
}

}  // namespace rgpu::net
