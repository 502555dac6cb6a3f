// server/worker/lane.h — serves one data-plane connection (a lane) of a session.
//
// Contract:
// - serve() reads frames until the peer says Goodbye or goes away and returns why it ended.
//   Request frames get exactly one Reply (plus BulkChunk frames after it for a bulk DtoH);
//   Batch frames get none; their records run in order and errors follow session.h's policy.
// - Malformed input never ends the worker with a crash: a Request whose meta does not decode
//   gets an error Reply; a malformed Batch record is kept as the session's pending error and
//   the rest of that batch is dropped; an unexpected frame kind is skipped and logged. Only a
//   broken framing (bad magic, lengths over the limits: the stream cannot be resynchronised)
//   ends the lane.
// - Bulk copies: an HtoD record with flags & kCopyFlagBulk has no payload; BulkChunk frames
//   follow right after the frame carrying it (zero / LZ4-compressed / raw chunks, `last` on the
//   final one). A bulk DtoH's Reply has no payload; BulkChunk frames of up to kBulkChunkBytes
//   follow it. Payloads land in buffers sized by the validated request, never by the wire.
// - Several lanes may later share one Session; today a worker serves one lane.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/frame.h"
#include "protocol/transport.h"
#include "server/worker/meter.h"
#include "server/worker/session.h"

namespace rgpu::server {

inline constexpr uint64_t kBulkChunkBytes = 8ull << 20;

// A Stream that counts bytes into a meter, for bytes in/out.
class CountingStream final : public net::Stream {
 public:
  CountingStream(net::Stream& inner, SessionMeter& meter) : s_(inner), m_(meter) {}
  void write_all(const void* d, size_t n) override {
    s_.write_all(d, n);
    m_.bytes_out += n;
  }
  void writev_all(const struct iovec* iov, int n) override {
    s_.writev_all(iov, n);
    for (int i = 0; i < n; ++i) m_.bytes_out += iov[i].iov_len;
  }
  void read_exact(void* d, size_t n) override {
    s_.read_exact(d, n);
    m_.bytes_in += n;
  }
  size_t read_some(void* d, size_t n) override {
    size_t got = s_.read_some(d, n);
    m_.bytes_in += got;
    return got;
  }
  void shutdown() override { s_.shutdown(); }
  int fd() const override { return s_.fd(); }
  std::string peer() const override { return s_.peer(); }
  bool is_tls() const override { return s_.is_tls(); }
  std::string peer_certificate_subject() const override { return s_.peer_certificate_subject(); }

 private:
  net::Stream& s_;
  SessionMeter& m_;
};

class Lane {
 public:
  Lane(net::Stream& stream, Session& session) : s_(stream), session_(session) {}
  std::string serve();

 private:
  void on_request(InFrame& f);
  void on_batch(InFrame& f);
  // Reads the BulkChunk frames of a bulk HtoD into `buf` (bytes long, or empty when the range
  // was refused: the chunks are then drained). Returns an error for a bad chunk.
  Status read_bulk(std::vector<uint8_t>* buf, uint64_t bytes);
  void reply(const OpReply& r, bool bulk);

  net::Stream& s_;
  Session& session_;
};

}  // namespace rgpu::server
