// protocol/counting_stream.h — a Stream that counts the bytes through it, each way.
//
// Contract: every byte written or read through the stream is added to *out or *in (atomics, so
// another thread may read the totals at any time). It counts what the framing layer sees
// (plaintext on a TLS stream), so the two ends of one connection count the same bytes: the
// server's usage receipts and the shim's tally are compared on these counts. It may own the
// inner stream (the shim's lanes) or borrow it (the server's). Everything else passes through.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "protocol/transport.h"

namespace rgpu::net {

class CountingStream final : public Stream {
 public:
  CountingStream(Stream& inner, std::atomic<uint64_t>* in, std::atomic<uint64_t>* out)
      : s_(inner), in_(in), out_(out) {}
  CountingStream(std::unique_ptr<Stream> owned, std::atomic<uint64_t>* in,
                 std::atomic<uint64_t>* out)
      : owned_(std::move(owned)), s_(*owned_), in_(in), out_(out) {}

  void write_all(const void* d, size_t n) override {
    s_.write_all(d, n);
    out_->fetch_add(n, std::memory_order_relaxed);
  }
  void writev_all(const struct iovec* iov, int n) override {
    s_.writev_all(iov, n);
    for (int i = 0; i < n; ++i) out_->fetch_add(iov[i].iov_len, std::memory_order_relaxed);
  }
  void read_exact(void* d, size_t n) override {
    s_.read_exact(d, n);
    in_->fetch_add(n, std::memory_order_relaxed);
  }
  size_t read_some(void* d, size_t n) override {
    const size_t got = s_.read_some(d, n);
    in_->fetch_add(got, std::memory_order_relaxed);
    return got;
  }
  bool try_read_some(void* d, size_t n, size_t* got) override {
    const bool ok = s_.try_read_some(d, n, got);
    if (ok) in_->fetch_add(*got, std::memory_order_relaxed);
    return ok;
  }
  void set_read_deadline(std::chrono::steady_clock::time_point d) override {
    s_.set_read_deadline(d);
  }
  void shutdown() override { s_.shutdown(); }
  int fd() const override { return s_.fd(); }
  std::string peer() const override { return s_.peer(); }
  bool is_tls() const override { return s_.is_tls(); }
  std::string peer_certificate_subject() const override { return s_.peer_certificate_subject(); }

 private:
  std::unique_ptr<Stream> owned_;  // before s_: s_ may refer to it
  Stream& s_;
  std::atomic<uint64_t>* in_;
  std::atomic<uint64_t>* out_;
};

}  // namespace rgpu::net
