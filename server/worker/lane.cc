// server/worker/lane.cc — see lane.h.
#include "server/worker/lane.h"

#include <capnp/message.h>
#include <kj/exception.h>

#include <cstring>

#include "protocol/batch_record.h"
#include "protocol/bulk_chunk.h"
#include "protocol/data_plane.capnp.h"
#include "protocol/small_message.h"
#include "server/log.h"
#include "server/worker/host_memory.h"

namespace rgpu::server {

namespace {

// Whether a copy record asks for bulk chunks (the record must decode to say so).
bool is_bulk(uint16_t op, const uint8_t* args, size_t len) {
  if (op == static_cast<uint16_t>(Op::MemcpyHtoD)) {
    op::MemcpyHtoD::Args a;
    return decode_record(args, len, &a) && (a.flags & kCopyFlagBulk);
  }
  if (op == static_cast<uint16_t>(Op::MemcpyDtoH)) {
    op::MemcpyDtoH::Args a;
    return decode_record(args, len, &a) && (a.flags & kCopyFlagBulk);
  }
  return false;
}

}  // namespace

uint8_t* Lane::staging() {
  if (staging_.empty()) staging_.resize(kBulkChunkBytes);
  return staging_.data();
}

std::string Lane::serve(bool* goodbye) {
  if (goodbye) *goodbye = false;
  session_.backend().attach_thread();
  for (;;) {
    InFrame f;
    try {
      f = read_frame(s_);
    } catch (const net::NetError& e) {
      if (e.kind() == net::NetError::kClosed)
        return "the client's connection closed without a goodbye (the program was killed or "
               "crashed)";
      if (e.kind() == net::NetError::kProtocol) return std::string("framing error: ") + e.what();
      return std::string("connection lost: ") + e.what();
    }
    try {
      switch (f.kind) {
        case FrameKind::kRequest:
          on_request(f);
          break;
        case FrameKind::kBatch:
          on_batch(f);
          break;
        case FrameKind::kGoodbye: {
          skip_payload(s_, f.payload_len);
          if (goodbye) *goodbye = true;
          std::string reason;
          try {
            reason = f.reader().getRoot<wire::Goodbye>().getReason().cStr();
          } catch (const kj::Exception&) {
          }
          if (reason.size() > 200) reason.resize(200);
          return reason.empty() ? "the client ended the session"
                                : "the client ended the session (" + reason + ")";
        }
        default: {
          log_warn("ignoring unexpected frame kind %u", static_cast<unsigned>(f.kind));
          skip_payload(s_, f.payload_len);
          Gate::Turn t = gate_.enter(0);
          if (!t) return "session ended";
          session_.async_error(Status::Err(
              CUDA_ERROR_INVALID_VALUE,
              "unexpected frame kind " + std::to_string(static_cast<unsigned>(f.kind))));
        }
      }
    } catch (const net::NetError& e) {
      if (e.kind() == net::NetError::kClosed) return "peer closed the connection";
      return std::string("connection lost: ") + e.what();
    } catch (const std::runtime_error& e) {
      return std::string("lane ended: ") + e.what();
    } catch (const std::bad_alloc&) {
      return "the session's worker ran out of host memory (its limit is " +
             std::to_string(host_memory_limit()) +
             " bytes: the vGPU's memory on a sim device plus --worker-mem-allowance)";
    }
  }
}

void Lane::say_goodbye() {
  const std::string why = session_.ending();
  if (why.empty() || session_.protocol_version() < 7) return;
  try {
    capnp::MallocMessageBuilder m;
    m.initRoot<wire::Goodbye>().setReason(why);
    write_frame(s_, FrameKind::kGoodbye, m);
  } catch (const std::exception&) {  // the client is gone already
  }
}

namespace {
// A reply carries the device printf text made since the last one (protocol 5+). A client
// older than 5 would drop the field unread, so for it the text goes to the log instead.
void build_reply(const OpReply& r, Session& session, capnp::MessageBuilder* m) {
  auto rep = m->initRoot<wire::Reply>();
  rep.setStatus(static_cast<uint32_t>(r.status.code));
  if (!r.result.empty()) rep.setResults(capnp::Data::Reader(r.result.data(), r.result.size()));
  if (!r.status.text.empty()) rep.setErrorText(r.status.text);
  if (std::string notice = session.take_notice(); !notice.empty()) {
    if (session.protocol_version() >= 8)
      rep.setNotice(notice);
    else
      log_warn("not told to the client (protocol %u; 8 carries it): %s", session.protocol_version(),
               notice.c_str());
  }
  const std::string out = session.backend().take_device_output();
  if (out.empty()) return;
  if (session.protocol_version() >= 5) {
    rep.setDeviceOutput(
        capnp::Data::Reader(reinterpret_cast<const uint8_t*>(out.data()), out.size()));
  } else {
    log_warn(
        "device printf output (%zu bytes) not sent: the client speaks protocol %u, which "
        "cannot carry it (5 can):\n%s",
        out.size(), session.protocol_version(), out.c_str());
  }
}
}  // namespace

void Lane::reply(const OpReply& r) {
  SmallMessage m;
  build_reply(r, session_, &m.msg);
  write_frame(s_, FrameKind::kReply, m.msg, r.payload.empty() ? nullptr : r.payload.data(),
              r.payload.size());
}

Status Lane::read_bulk(uint64_t dst, uint64_t bytes, uint64_t stream, bool ok) {
  Status err;
  Backend& b = session_.backend();
  for (;;) {
    BulkChunkIn c = read_bulk_chunk(s_);
    const uint64_t off = c.offset, len = c.length;
    // After a fault the rest of the copy's chunks are read and dropped (the lane stays in step).
    if (ok && err.ok()) {
      std::string bad = c.check(bytes);
      if (!bad.empty()) err = Status::Err(CUDA_ERROR_INVALID_VALUE, bad);
    }
    if (!ok || !err.ok()) {
      skip_payload(s_, c.payload_len);
    } else if (c.zero) {
      skip_payload(s_, c.payload_len);
      if (len) err = b.memset(dst + off, 0, 1, len, stream);
    } else if (c.compressed) {
      void* view = b.host_view(dst + off, len);
      const bool staged = !view && len <= ring_.piece_bytes() && ring_.ok();
      int slot = -1;
      if (staged) {
        Status prior;
        slot = ring_.acquire(&prior);
        if (!prior.ok()) session_.async_error(prior);
      }
      std::vector<uint8_t> big;  // a chunk over the staging size (the copy's size bounds it)
      if (!view && !staged && len > kBulkChunkBytes) big.resize(len);
      uint8_t* out = view          ? static_cast<uint8_t*>(view)
                     : staged      ? ring_.buffer(slot)
                     : big.empty() ? staging()
                                   : big.data();
      if (!read_lz4_chunk(s_, c, &z_, out))
        err = Status::Err(CUDA_ERROR_INVALID_VALUE, "corrupt LZ4 bulk chunk");
      else if (staged)
        err = b.staged_htod(dst + off, out, len, stream);
      else if (!view)
        err = b.memcpy_htod(dst + off, out, len, stream);
    } else if (void* view = b.host_view(dst + off, len)) {
      read_payload(s_, view, len);  // straight into device memory
    } else if (ring_.ok()) {
      // Piece by piece through the staging ring: the device copies one piece while the next
      // one arrives.
      const uint64_t piece_max = ring_.piece_for(bytes);
      for (uint64_t done = 0; done < len;) {
        uint64_t piece = std::min<uint64_t>(piece_max, len - done);
        Status prior;
        int slot = ring_.acquire(&prior);
        if (!prior.ok()) session_.async_error(prior);
        read_payload(s_, ring_.buffer(slot), piece);
        if (err.ok()) err = b.staged_htod(dst + off + done, ring_.buffer(slot), piece, stream);
        done += piece;
      }
    } else {
      for (uint64_t done = 0; done < len;) {  // through the staging buffer, piece by piece
        uint64_t piece = std::min<uint64_t>(kBulkChunkBytes, len - done);
        read_payload(s_, staging(), piece);
        if (err.ok()) err = b.memcpy_htod(dst + off + done, staging(), piece, stream);
        done += piece;
      }
    }
    if (c.last) return err;
  }
}

void Lane::send_bulk(uint64_t src, uint64_t bytes, uint64_t stream, bool compress_ok,
                     const OpReply& announce) {
  Backend& b = session_.backend();
  // The reply that announces the chunks travels in the first chunk's write (one wakeup).
  std::vector<uint8_t> lead;
  {
    SmallMessage m;
    build_reply(announce, session_, &m.msg);
    lead = encode_frame(FrameKind::kReply, m.msg);
  }
  if (b.host_view(src, bytes) == nullptr && ring_.ok()) {
    send_staged(src, bytes, stream, compress_ok, lead);
    return;
  }
  uint64_t off = 0;
  do {
    uint64_t n = std::min<uint64_t>(kBulkChunkBytes, bytes - off);
    const uint8_t* data = static_cast<const uint8_t*>(b.host_view(src + off, n));
    if (!data) {
      Status st = b.memcpy_dtoh(staging(), src + off, n, stream);
      if (!st.ok()) {
        // The range was checked; a device failure now is kept for the next sync call.
        session_.async_error(st);
        std::memset(staging(), 0, n);
      }
      data = staging();
    }
    write_bulk_chunk(s_, data, off, n, off + n == bytes, compress_ok, &z_,
                     off == 0 ? &lead : nullptr);
    off += n;
  } while (off < bytes);
}

void Lane::send_staged(uint64_t src, uint64_t bytes, uint64_t stream, bool compress_ok,
                       const std::vector<uint8_t>& lead) {
  Backend& b = session_.backend();
  struct InFlight {
    int slot;
    uint64_t off, n;
    bool failed;
  };
  InFlight q[StagingRing::kSlots];
  int head = 0, count = 0;
  const uint64_t piece_max = ring_.piece_for(bytes);
  uint64_t issued = 0, sent = 0;
  while (sent < bytes) {
    // Keep every slot busy: the device fills the next pieces while this one goes out.
    while (count < StagingRing::kSlots && issued < bytes) {
      Status prior;
      int slot = ring_.acquire(&prior);
      if (!prior.ok()) session_.async_error(prior);
      uint64_t n = std::min<uint64_t>(piece_max, bytes - issued);
      Status st = b.staged_dtoh(ring_.buffer(slot), src + issued, n, stream);
      if (!st.ok()) session_.async_error(st);
      q[(head + count) % StagingRing::kSlots] = {slot, issued, n, !st.ok()};
      ++count;
      issued += n;
    }
    InFlight f = q[head];
    head = (head + 1) % StagingRing::kSlots;
    --count;
    Status done = b.staged_wait(ring_.buffer(f.slot));
    if (!done.ok()) session_.async_error(done);
    if (f.failed || !done.ok()) std::memset(ring_.buffer(f.slot), 0, f.n);  // no stale bytes
    write_bulk_chunk(s_, ring_.buffer(f.slot), f.off, f.n, f.off + f.n == bytes, compress_ok, &z_,
                     f.off == 0 ? &lead : nullptr);
    sent += f.n;
  }
}

void Lane::on_request(InFrame& f) {
  uint16_t op = 0;
  uint64_t seq = 0;
  uint8_t args[256];
  size_t args_len = 0;
  try {
    auto r = f.reader();
    auto req = r.getRoot<wire::Request>();
    op = req.getOp();
    seq = req.getSeq();
    auto a = req.getArgs();
    if (a.size() > sizeof args) throw std::length_error("request record too long");
    args_len = a.size();
    std::memcpy(args, a.begin(), args_len);
  } catch (const std::exception& e) {
    skip_payload(s_, f.payload_len);
    OpReply bad;
    bad.status =
        Status::Err(CUDA_ERROR_INVALID_VALUE, std::string("malformed Request: ") + e.what());
    reply(bad);
    return;
  } catch (const kj::Exception& e) {
    skip_payload(s_, f.payload_len);
    OpReply bad;
    bad.status = Status::Err(CUDA_ERROR_INVALID_VALUE,
                             "malformed Request: " + std::string(e.getDescription().cStr()));
    reply(bad);
    return;
  }
  OpReply out;
  {
    Gate::Turn turn = gate_.enter(seq);
    if (!turn) {
      skip_payload(s_, f.payload_len);
      throw std::runtime_error("session ended or request out of order (seq " + std::to_string(seq) +
                               ")");
    }
    if (is_bulk(op, args, args_len)) {
      uint64_t addr = 0, bytes = 0, stream = 0, flags = 0;
      Status pre = session_.bulk_check(op, args, args_len, &addr, &bytes, &stream, &flags);
      if (f.payload_len) {
        skip_payload(s_, f.payload_len);
        if (pre.ok()) pre = Status::Err(CUDA_ERROR_INVALID_VALUE, "a bulk copy carries no payload");
      }
      if (op == static_cast<uint16_t>(Op::MemcpyHtoD)) {
        Status st = read_bulk(addr, bytes, stream, pre.ok() && session_.sticky_error().ok());
        out = session_.refuse(op, pre.ok() ? st : pre);
      } else {
        out = session_.refuse(op, pre);
        if (out.status.ok()) {
          send_bulk(addr, bytes, stream, (flags & kCopyFlagCompressOk) != 0, out);
          return;
        }
      }
    } else {
      Status pc = session_.payload_check(op, args, args_len, f.payload_len);
      if (!pc.ok()) {
        skip_payload(s_, f.payload_len);
        out = session_.sync(op, args, args_len, nullptr, f.payload_len);
      } else {
        // Grown as the bytes arrive: a frame that promises a payload it does not send costs
        // what it sent, not what it promised.
        std::vector<uint8_t> payload;
        read_payload_growing(s_, f.payload_len, &payload);
        out = session_.sync(op, args, args_len, payload.data(), payload.size());
      }
    }
  }
  reply(out);
}

void Lane::on_batch(InFrame& f) {
  skip_payload(s_, f.payload_len);  // a Batch carries its records in the meta
  uint64_t seq = 0;
  capnp::Data::Reader recs;
  uint32_t count = 0;
  std::optional<capnp::FlatArrayMessageReader> reader;
  try {
    reader.emplace(f.meta());
    auto b = reader->getRoot<wire::Batch>();
    seq = b.getSeq();
    recs = b.getRecords();
    count = b.getCount();
  } catch (const kj::Exception& e) {
    Gate::Turn t = gate_.enter(0);
    if (!t) throw std::runtime_error("session ended");
    session_.async_error(Status::Err(CUDA_ERROR_INVALID_VALUE,
                                     "malformed Batch: " + std::string(e.getDescription().cStr())));
    return;
  }
  Gate::Turn turn = gate_.enter(seq);
  if (!turn)
    throw std::runtime_error("session ended or batch out of order (seq " + std::to_string(seq) +
                             ")");
  // A malformed batch runs none of its records.
  std::string fault = check_batch(recs.begin(), recs.size(), count);
  if (!fault.empty()) {
    session_.async_error(Status::Err(CUDA_ERROR_INVALID_VALUE, fault));
    return;
  }
  BatchReader records(recs.begin(), recs.size(), count);
  BatchRecord r;
  while (records.next(&r)) {
    if (r.op == static_cast<uint16_t>(Op::MemcpyHtoD) && is_bulk(r.op, r.args, r.args_len)) {
      uint64_t addr = 0, bytes = 0, stream = 0, flags = 0;
      session_.count_call(r.op, false);
      Status pre = session_.bulk_check(r.op, r.args, r.args_len, &addr, &bytes, &stream, &flags);
      if (pre.ok() && r.payload_len)
        pre = Status::Err(CUDA_ERROR_INVALID_VALUE, "a bulk copy carries no payload");
      const bool live = session_.sticky_error().ok();
      Status st = read_bulk(addr, bytes, stream, pre.ok() && live);
      if (live && !(pre.ok() ? st : pre).ok()) session_.async_error(pre.ok() ? st : pre);
    } else {
      session_.async(r.op, r.args, r.args_len, r.payload, r.payload_len);
    }
  }
}

}  // namespace rgpu::server
