// server/worker/lane.h — serves one data-plane connection (a lane) of a session.
//
// Contract:
// - serve() reads frames until the peer says Goodbye or goes away and returns why it ended
//   (*goodbye tells which). Request frames get exactly one Reply (plus BulkChunk frames after
//   it for a bulk DtoH); Batch frames get none; their records run in order and errors follow
//   session.h's policy.
// - Several lanes share one Session. Each Request and Batch runs inside a Gate turn
//   (server/worker/gate.h): exclusive, and in the order of its seq across all lanes (DESIGN
//   contract 4). Replies are written after the turn ends, except a bulk DtoH's chunks, which are
//   read from the device inside it.
// - Malformed input never ends the worker with a crash: a Request whose meta does not decode
//   gets an error Reply; a malformed Batch record is kept as the session's pending error and
//   the rest of that batch is dropped; an unexpected frame kind is skipped and logged. Only a
//   broken framing (bad magic, lengths over the limits: the stream cannot be resynchronised)
//   ends the lane.
// - Bulk copies (kCopyFlagBulk, protocol/ops.def): an HtoD record has no payload; BulkChunk
//   frames follow right after the frame carrying it (zero / LZ4-compressed / raw chunks, `last`
//   on the final one). Each chunk lands in the device range it names as it arrives (straight
//   into device memory when the backend has a host view, else through one chunk-sized staging
//   buffer), so no copy is ever held whole in worker memory. A bulk DtoH's Reply has no
//   payload; chunks of up to kBulkChunkBytes follow it, all-zero ones as a zero marker, LZ4
//   ones only when the request allowed it (kCopyFlagCompressOk) and a probe says it pays.
//   Payloads land in buffers sized by the validated request, never by the wire.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/buffered_stream.h"
#include "protocol/counting_stream.h"
#include "protocol/frame.h"
#include "protocol/transport.h"
#include "server/worker/gate.h"
#include "server/worker/meter.h"
#include "server/worker/session.h"
#include "server/worker/staging.h"

namespace rgpu::server {

inline constexpr uint64_t kBulkChunkBytes = 8ull << 20;

class Lane {
 public:
  Lane(net::Stream& stream, Session& session, Gate& gate)
      : in_(stream),
        s_(in_),
        session_(session),
        gate_(gate),
        ring_(session.backend(), kBulkChunkBytes) {}
  std::string serve(bool* goodbye = nullptr);
  // After serve() returned because the server ends the session: tells the client why
  // (a Goodbye with Session::ending(), protocol 7 clients only). Never throws.
  void say_goodbye();

 private:
  void on_request(InFrame& f);
  void on_batch(InFrame& f);
  // Reads the BulkChunk frames of a bulk HtoD and writes each into [dst, dst+bytes) on
  // `stream`. `ok` false (the range was refused): the chunks are drained. Returns the first
  // error (a bad chunk, a failed device write).
  Status read_bulk(uint64_t dst, uint64_t bytes, uint64_t stream, bool ok);
  // Sends a bulk DtoH's Reply (`announce`) and then its chunks; the Reply shares the first
  // chunk's write.
  void send_bulk(uint64_t src, uint64_t bytes, uint64_t stream, bool compress_ok,
                 const OpReply& announce);
  // send_bulk's path through the staging ring (no host view).
  void send_staged(uint64_t src, uint64_t bytes, uint64_t stream, bool compress_ok,
                   const std::vector<uint8_t>& lead);
  void reply(const OpReply& r);
  uint8_t* staging();

  net::BufferedReader in_;
  net::Stream& s_;
  Session& session_;
  Gate& gate_;
  std::vector<uint8_t> staging_, z_;
  StagingRing ring_;  // bulk copies when the backend has no host view
};

}  // namespace rgpu::server
