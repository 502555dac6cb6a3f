// protocol/buffered_stream.h — a read-buffering wrapper over a net::Stream.
//
// Contract: BufferedReader wraps a Stream that it does not own and forwards writes unchanged.
// Small reads (a frame header, a meta) are served from a buffer that is refilled with one
// read_some() of up to the buffer size (64 KiB unless told), so a small frame costs one recv
// instead of two or three. A read at least as large as the buffer, once the buffered bytes are used
// up, goes straight into the caller's memory (bulk payloads land in their destination with no extra
// copy). Errors are the inner stream's, with kClosed only when the peer closed between reads
// (nothing buffered). Like any Stream it is used by one thread at a time for reading.
#pragma once

#include <poll.h>

#include <time.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "protocol/transport.h"

namespace rgpu::net {

class BufferedReader final : public Stream {
 public:
  static constexpr size_t kDefaultBufferBytes = 64 * 1024;
  // Pause instructions between two polls of an empty socket (about 1-2 us): a poll is a
  // syscall, which a core shared with the sender (a hyperthread, a VM's vCPU) pays for.
  static constexpr int kRelaxesPerPoll = 32;

  // buffer_bytes: the most one refill reads. A reader of mostly small frames followed by large
  // payloads (a client lane) wants it small: what a refill takes of a payload is copied once more.
  explicit BufferedReader(Stream& inner, size_t buffer_bytes = kDefaultBufferBytes)
      : s_(inner), cap_(buffer_bytes ? buffer_bytes : 1), buf_(new char[cap_]) {}

  void write_all(const void* d, size_t n) override { s_.write_all(d, n); }
  void writev_all(const struct iovec* iov, int n) override { s_.writev_all(iov, n); }

  void read_exact(void* data, size_t len) override {
    char* p = static_cast<char*>(data);
    size_t have = end_ - pos_;
    if (have >= len) {
      std::memcpy(p, buf_.get() + pos_, len);
      pos_ += len;
      return;
    }
    std::memcpy(p, buf_.get() + pos_, have);
    pos_ = end_ = 0;
    size_t got = have;
    while (got < len) {
      size_t want = len - got;
      if (want >= cap_) {
        size_t n = fill(p + got, want);
        if (n == 0) closed(got);
        got += n;
        continue;
      }
      size_t n = fill(buf_.get(), cap_);
      if (n == 0) closed(got);
      size_t take = n < want ? n : want;
      std::memcpy(p + got, buf_.get(), take);
      got += take;
      pos_ = take;
      end_ = n;
    }
  }

  size_t read_some(void* data, size_t len) override {
    size_t have = end_ - pos_;
    if (have == 0) return fill(data, len);
    size_t take = have < len ? have : len;
    std::memcpy(data, buf_.get() + pos_, take);
    pos_ += take;
    return take;
  }

  // How long a read polls before it blocks (0: it blocks at once, the default).
  void set_spin_ns(uint64_t ns) { spin_ns_ = ns; }
  uint64_t spin_ns() const { return spin_ns_; }

  // Bytes already read from the socket and not yet consumed.
  size_t buffered() const { return end_ - pos_; }

  void set_read_deadline(std::chrono::steady_clock::time_point d) override {
    s_.set_read_deadline(d);
  }
  void shutdown() override { s_.shutdown(); }
  int fd() const override { return s_.fd(); }
  std::string peer() const override { return s_.peer(); }
  bool is_tls() const override { return s_.is_tls(); }
  std::string peer_certificate_subject() const override { return s_.peer_certificate_subject(); }

 private:
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
  }

  static uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
  }

  // One read of up to len bytes into p: polled for up to spin_ns_ first, then blocking. The
  // poll asks the socket whether bytes came (poll(2) with no timeout, which takes no socket
  // lock) and reads only then: a read that finds nothing still locks the socket, against the
  // sender's delivery of the very bytes it waits for (figure 3's TLS D2H rows lost 10-15 % to
  // reads spinning on an empty socket).
  size_t fill(void* p, size_t len) {
    if (spin_ns_ != 0) {
      const uint64_t until = now_ns() + spin_ns_;
      size_t n = 0;
      if (s_.try_read_some(p, len, &n)) return n;  // (TLS: a record may be buffered already)
      const int fd = s_.fd();
      do {
        pollfd pf{fd, POLLIN, 0};
        if (fd < 0 || ::poll(&pf, 1, 0) != 0) {
          if (s_.try_read_some(p, len, &n)) return n;
        }
        for (int i = 0; i < kRelaxesPerPoll; ++i) cpu_relax();
      } while (now_ns() < until);
    }
    return s_.read_some(p, len);
  }

  [[noreturn]] void closed(size_t got) {
    if (got == 0) throw NetError(NetError::kClosed, "peer closed the connection");
    throw NetError(NetError::kBroken, "peer closed the connection mid-message");
  }

  Stream& s_;
  size_t cap_;
  uint64_t spin_ns_ = 0;
  std::unique_ptr<char[]> buf_;
  size_t pos_ = 0, end_ = 0;
};

}  // namespace rgpu::net
