// server/worker/lane.cc — see lane.h.
#include "server/worker/lane.h"

#include <kj/exception.h>

#include <cstring>

#include "protocol/codec/lz4_block.h"
#include "protocol/data_plane.capnp.h"
#include "server/log.h"

namespace rgpu::server {

namespace {

struct RecordHeader {
  uint16_t op;
  uint16_t flags;
  uint32_t args_len;
  uint32_t payload_len;
  uint32_t pad;
};
static_assert(sizeof(RecordHeader) == 16);

uint64_t pad8(uint64_t n) {
  return (n + 7) & ~uint64_t{7};
}

// The bulk flag of a copy record, if the op is a copy and its record decodes.
bool bulk_flag(uint16_t op, const uint8_t* args, size_t len, uint64_t* bytes, uint64_t* dst) {
  if (op == static_cast<uint16_t>(Op::MemcpyHtoD)) {
    op::MemcpyHtoD::Args a;
    if (!decode_record(args, len, &a) || !(a.flags & kCopyFlagBulk)) return false;
    *bytes = a.bytes;
    *dst = a.dst;
    return true;
  }
  if (op == static_cast<uint16_t>(Op::MemcpyDtoH)) {
    op::MemcpyDtoH::Args a;
    if (!decode_record(args, len, &a) || !(a.flags & kCopyFlagBulk)) return false;
    *bytes = a.bytes;
    *dst = a.src;
    return true;
  }
  return false;
}

}  // namespace

std::string Lane::serve() {
  for (;;) {
    InFrame f;
    try {
      f = read_frame(s_);
    } catch (const net::NetError& e) {
      if (e.kind() == net::NetError::kClosed) return "peer closed the connection";
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
        case FrameKind::kGoodbye:
          skip_payload(s_, f.payload_len);
          return "goodbye";
        default:
          log_warn("ignoring unexpected frame kind %u", static_cast<unsigned>(f.kind));
          skip_payload(s_, f.payload_len);
          session_.async_error(Status::Err(
              CUDA_ERROR_INVALID_VALUE,
              "unexpected frame kind " + std::to_string(static_cast<unsigned>(f.kind))));
      }
    } catch (const net::NetError& e) {
      if (e.kind() == net::NetError::kClosed) return "peer closed the connection";
      return std::string("connection lost: ") + e.what();
    }
  }
}

void Lane::reply(const OpReply& r, bool bulk) {
  capnp::MallocMessageBuilder msg;
  auto rep = msg.initRoot<wire::Reply>();
  rep.setStatus(static_cast<uint32_t>(r.status.code));
  if (!r.result.empty()) rep.setResults(capnp::Data::Reader(r.result.data(), r.result.size()));
  if (!r.status.text.empty()) rep.setErrorText(r.status.text);
  const bool chunks = bulk && r.status.ok();
  write_frame(s_, FrameKind::kReply, msg, chunks || r.payload.empty() ? nullptr : r.payload.data(),
              chunks ? 0 : r.payload.size());
  if (!chunks) return;
  uint64_t off = 0;
  do {
    uint64_t n = std::min<uint64_t>(kBulkChunkBytes, r.payload.size() - off);
    capnp::MallocMessageBuilder cm;
    auto c = cm.initRoot<wire::BulkChunk>();
    c.setOffset(off);
    c.setLength(n);
    c.setLast(off + n == r.payload.size());
    write_frame(s_, FrameKind::kBulkChunk, cm, r.payload.data() + off, n);
    off += n;
  } while (off < r.payload.size());
}

Status Lane::read_bulk(std::vector<uint8_t>* buf, uint64_t bytes) {
  Status err;
  for (;;) {
    InFrame f = read_frame(s_);
    if (f.kind != FrameKind::kBulkChunk) {
      skip_payload(s_, f.payload_len);
      throw net::NetError(net::NetError::kProtocol, "expected a BulkChunk frame");
    }
    uint64_t off = 0, len = 0;
    bool zero = false, compressed = false, last = true;
    try {
      auto r = f.reader();
      auto c = r.getRoot<wire::BulkChunk>();
      off = c.getOffset();
      len = c.getLength();
      zero = c.getZero();
      compressed = c.getCompressed();
      last = c.getLast();
    } catch (const kj::Exception& e) {
      skip_payload(s_, f.payload_len);
      throw net::NetError(net::NetError::kProtocol, "malformed BulkChunk");
    }
    const bool fits = off <= bytes && len <= bytes - off;
    if (buf->empty() || !err.ok() || !fits) {
      if (err.ok() && !buf->empty())
        err = Status::Err(CUDA_ERROR_INVALID_VALUE, "bulk chunk outside the copy's range");
      skip_payload(s_, f.payload_len);
    } else if (zero) {
      skip_payload(s_, f.payload_len);
      std::memset(buf->data() + off, 0, len);
    } else if (compressed) {
      std::vector<uint8_t> z;
      if (f.payload_len > codec::lz4_compress_bound(len) + 64) {
        skip_payload(s_, f.payload_len);
        err = Status::Err(CUDA_ERROR_INVALID_VALUE, "compressed bulk chunk is too large");
      } else {
        z.resize(f.payload_len);
        read_payload(s_, z.data(), z.size());
        auto n = codec::lz4_decompress(z.data(), z.size(), buf->data() + off, len);
        if (!n || *n != len) err = Status::Err(CUDA_ERROR_INVALID_VALUE, "corrupt LZ4 bulk chunk");
      }
    } else if (f.payload_len != len) {
      skip_payload(s_, f.payload_len);
      err = Status::Err(CUDA_ERROR_INVALID_VALUE, "bulk chunk length does not match its bytes");
    } else {
      read_payload(s_, buf->data() + off, len);
    }
    if (last) return err;
  }
}

void Lane::on_request(InFrame& f) {
  uint16_t op = 0;
  std::vector<uint8_t> args;
  try {
    auto r = f.reader();
    auto req = r.getRoot<wire::Request>();
    op = req.getOp();
    auto a = req.getArgs();
    args.assign(a.begin(), a.end());
  } catch (const kj::Exception& e) {
    skip_payload(s_, f.payload_len);
    OpReply bad;
    bad.status = Status::Err(CUDA_ERROR_INVALID_VALUE,
                             "malformed Request: " + std::string(e.getDescription().cStr()));
    reply(bad, false);
    return;
  }
  uint64_t bulk_bytes = 0, bulk_addr = 0;
  const bool bulk = bulk_flag(op, args.data(), args.size(), &bulk_bytes, &bulk_addr);
  std::vector<uint8_t> payload;
  Status pc = session_.payload_check(op, args.data(), args.size(), f.payload_len);
  if (!pc.ok()) {
    skip_payload(s_, f.payload_len);
    if (bulk && op == static_cast<uint16_t>(Op::MemcpyHtoD)) {
      std::vector<uint8_t> none;
      read_bulk(&none, bulk_bytes);
    }
    reply(session_.sync(op, args.data(), args.size(), nullptr, f.payload_len), false);
    return;
  }
  if (bulk && op == static_cast<uint16_t>(Op::MemcpyHtoD)) {
    Status range = session_.check_range(bulk_addr, bulk_bytes, "MemcpyHtoD destination");
    if (range.ok() && bulk_bytes) payload.resize(bulk_bytes);
    Status st = read_bulk(&payload, bulk_bytes);
    if (!range.ok() || !st.ok()) {
      reply(session_.refuse(op, range.ok() ? st : range), false);
      return;
    }
    op::MemcpyHtoD::Args a;
    decode_record(args.data(), args.size(), &a);
    a.flags &= ~kCopyFlagBulk;
    std::memcpy(args.data(), &a, sizeof a);
    reply(session_.sync(op, args.data(), args.size(), payload.data(), payload.size()), false);
    return;
  }
  payload.resize(f.payload_len);
  if (f.payload_len) read_payload(s_, payload.data(), payload.size());
  reply(session_.sync(op, args.data(), args.size(), payload.data(), payload.size()), bulk);
}

void Lane::on_batch(InFrame& f) {
  skip_payload(s_, f.payload_len);  // a Batch carries its records in the meta
  try {
    auto r = f.reader();
    auto b = r.getRoot<wire::Batch>();
    auto recs = b.getRecords();
    const uint8_t* p = recs.begin();
    const uint64_t size = recs.size();
    const uint32_t count = b.getCount();
    uint64_t off = 0;
    for (uint32_t i = 0; i < count; ++i) {
      RecordHeader h;
      if (size - off < sizeof h) {
        session_.async_error(
            Status::Err(CUDA_ERROR_INVALID_VALUE, "batch is shorter than its record count"));
        return;
      }
      std::memcpy(&h, p + off, sizeof h);
      const uint64_t body = uint64_t{h.args_len} + h.payload_len;
      if (body > size - off - sizeof h) {
        session_.async_error(
            Status::Err(CUDA_ERROR_INVALID_VALUE, "batch record runs past the batch's end"));
        return;
      }
      const uint8_t* args = p + off + sizeof h;
      const uint8_t* payload = args + h.args_len;
      uint64_t bulk_bytes = 0, bulk_addr = 0;
      if (h.op == static_cast<uint16_t>(Op::MemcpyHtoD) &&
          bulk_flag(h.op, args, h.args_len, &bulk_bytes, &bulk_addr)) {
        std::vector<uint8_t> buf;
        Status range = session_.check_range(bulk_addr, bulk_bytes, "MemcpyHtoD destination");
        if (range.ok() && bulk_bytes) buf.resize(bulk_bytes);
        Status st = read_bulk(&buf, bulk_bytes);
        if (!range.ok() || !st.ok()) {
          session_.async_error(range.ok() ? st : range);
        } else {
          op::MemcpyHtoD::Args a;
          decode_record(args, h.args_len, &a);
          a.flags &= ~kCopyFlagBulk;
          session_.async(h.op, reinterpret_cast<const uint8_t*>(&a), sizeof a, buf.data(),
                         buf.size());
        }
      } else {
        session_.async(h.op, args, h.args_len, payload, h.payload_len);
      }
      off += std::min<uint64_t>(pad8(sizeof h + body), size - off);
    }
  } catch (const kj::Exception& e) {
    session_.async_error(Status::Err(CUDA_ERROR_INVALID_VALUE,
                                     "malformed Batch: " + std::string(e.getDescription().cStr())));
  }
}

}  // namespace rgpu::server
