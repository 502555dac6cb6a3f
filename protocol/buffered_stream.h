// protocol/buffered_stream.h — a read-buffering wrapper over a net::Stream.
//
// Contract: BufferedReader wraps a Stream that it does not own and forwards writes unchanged.
// Small reads (a frame header, a meta) are served from a buffer that is refilled with one
// read_some() of up to kBufferBytes, so a small frame costs one recv instead of two or three. A
// read at least as large as the buffer, once the buffered bytes are used up, goes straight into
// the caller's memory (bulk payloads land in their destination with no extra copy). Errors are
// the inner stream's, with kClosed only when the peer closed between reads (nothing buffered).
// Like any Stream it is used by one thread at a time for reading.
#pragma once

#include <cstring>
#include <memory>

#include "protocol/transport.h"

namespace rgpu::net {

class BufferedReader final : public Stream {
 public:
  static constexpr size_t kBufferBytes = 64 * 1024;

  explicit BufferedReader(Stream& inner) : s_(inner), buf_(new char[kBufferBytes]) {}

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
      if (want >= kBufferBytes) {
        size_t n = s_.read_some(p + got, want);
        if (n == 0) closed(got);
        got += n;
        continue;
      }
      size_t n = s_.read_some(buf_.get(), kBufferBytes);
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
    if (have == 0) return s_.read_some(data, len);
    size_t take = have < len ? have : len;
    std::memcpy(data, buf_.get() + pos_, take);
    pos_ += take;
    return take;
  }

  // Bytes already read from the socket and not yet consumed.
  size_t buffered() const { return end_ - pos_; }

  void shutdown() override { s_.shutdown(); }
  int fd() const override { return s_.fd(); }
  std::string peer() const override { return s_.peer(); }
  bool is_tls() const override { return s_.is_tls(); }
  std::string peer_certificate_subject() const override { return s_.peer_certificate_subject(); }

 private:
  [[noreturn]] void closed(size_t got) {
    if (got == 0) throw NetError(NetError::kClosed, "peer closed the connection");
    throw NetError(NetError::kBroken, "peer closed the connection mid-message");
  }

  Stream& s_;
  std::unique_ptr<char[]> buf_;
  size_t pos_ = 0, end_ = 0;
};

}  // namespace rgpu::net
