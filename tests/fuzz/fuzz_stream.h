// tests/fuzz/fuzz_stream.h — a net::Stream that reads a fuzzer's bytes and discards writes.
//
// Contract: reads return the input in order; past its end read_exact/read_some throw
// NetError(kClosed), as a socket whose peer closed. Writes are counted, never stored.
#pragma once

#include <algorithm>
#include <cstring>

#include "protocol/transport.h"

namespace rgpu::fuzz {

class BytesStream final : public net::Stream {
 public:
  BytesStream(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  void write_all(const void*, size_t len) override { written_ += len; }
  void writev_all(const struct iovec* iov, int n) override {
    for (int i = 0; i < n; ++i) written_ += iov[i].iov_len;
  }
  void read_exact(void* out, size_t len) override {
    if (len == 0) return;  // out may be null (an empty vector's data())
    if (len > size_ - off_) throw net::NetError(net::NetError::kClosed, "end of input");
    std::memcpy(out, data_ + off_, len);
    off_ += len;
  }
  size_t read_some(void* out, size_t len) override {
    if (off_ == size_) throw net::NetError(net::NetError::kClosed, "end of input");
    const size_t n = std::min(len, size_ - off_);
    std::memcpy(out, data_ + off_, n);
    off_ += n;
    return n;
  }
  void set_read_deadline(std::chrono::steady_clock::time_point) override {}
  void shutdown() override {}
  int fd() const override { return -1; }
  std::string peer() const override { return "fuzz"; }
  size_t left() const { return size_ - off_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t off_ = 0;
  size_t written_ = 0;
};

}  // namespace rgpu::fuzz
