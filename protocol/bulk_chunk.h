// protocol/bulk_chunk.h — one BulkChunk frame of a bulk copy, written and read the same way by
// both ends (schema/data_plane.capnp BulkChunk; ops.def kCopyFlagBulk).
//
// Contract:
// - write_bulk_chunk() sends the bytes [offset, offset+length) of a copy, found at `bytes`, as
//   one BulkChunk frame: an all-zero range as a zero marker with no payload; else, when
//   `compress` is set and a probe block of the range compresses (protocol/codec/probe.h), as LZ4
//   when that is smaller; else raw. Returns the payload bytes it sent. `lead` (encode_frame), when
//   given, goes out in the same write just before the chunk.
// - read_bulk_chunk() reads the next frame's meta. It must be a well-formed BulkChunk, else
//   net::NetError(kProtocol) after its payload has been skipped. The chunk's payload stays in
//   the stream: read it with read_bulk_chunk_to_host() / read_lz4_chunk() / read_payload(), or
//   skip it, before the next frame.
// - BulkChunkIn::check(total) says what is wrong with a chunk for a copy of `total` bytes (empty:
//   nothing): its range outside the copy, an LZ4 payload larger than LZ4's bound for its length,
//   a raw payload whose size is not its length. A reader checks before it reads a payload, so no
//   chunk makes it allocate more than the copy's size allows.
#pragma once

#include <kj/exception.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "protocol/codec/lz4_block.h"
#include "protocol/codec/probe.h"
#include "protocol/codec/zero.h"
#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/small_message.h"

namespace rgpu {

inline uint64_t write_bulk_chunk(net::Stream& s, const uint8_t* bytes, uint64_t offset,
                                 uint64_t length, bool last, bool compress,
                                 std::vector<uint8_t>* scratch,
                                 const std::vector<uint8_t>* lead = nullptr) {
  SmallMessage m;
  auto c = m.msg.initRoot<wire::BulkChunk>();
  c.setOffset(offset);
  c.setLength(length);
  c.setLast(last);
  const void* payload = bytes;
  uint64_t payload_len = length;
  if (codec::is_all_zero(bytes, length)) {
    c.setZero(true);
    payload_len = 0;
  } else if (compress && codec::probe_compressible(bytes, length).worth_it) {
    scratch->resize(codec::lz4_compress_bound(length));
    auto zn = codec::lz4_compress(bytes, length, scratch->data(), scratch->size());
    if (zn && *zn < length) {
      c.setCompressed(true);
      payload = scratch->data();
      payload_len = *zn;
    }
  }
  write_frame(s, FrameKind::kBulkChunk, m.msg, payload_len ? payload : nullptr, payload_len, 0,
              lead);
  return payload_len;
}

struct BulkChunkIn {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t payload_len = 0;  // still in the stream
  bool zero = false;
  bool compressed = false;
  bool last = true;

  std::string check(uint64_t total) const {
    if (offset > total || length > total - offset) return "bulk chunk outside the copy's range";
    if (zero) return {};
    if (compressed) {
      if (payload_len > codec::lz4_compress_bound(length) + 64)
        return "compressed bulk chunk is too large";
      return {};
    }
    if (payload_len != length) return "bulk chunk length does not match its bytes";
    return {};
  }
};

inline BulkChunkIn read_bulk_chunk(net::Stream& s) {
  InFrame f = read_frame(s);
  if (f.kind != FrameKind::kBulkChunk) {
    skip_payload(s, f.payload_len);
    throw net::NetError(net::NetError::kProtocol, "expected a BulkChunk frame");
  }
  BulkChunkIn c;
  c.payload_len = f.payload_len;
  try {
    auto r = f.reader();
    auto b = r.getRoot<wire::BulkChunk>();
    c.offset = b.getOffset();
    c.length = b.getLength();
    c.zero = b.getZero();
    c.compressed = b.getCompressed();
    c.last = b.getLast();
  } catch (const kj::Exception&) {
    skip_payload(s, f.payload_len);
    throw net::NetError(net::NetError::kProtocol, "malformed BulkChunk");
  }
  return c;
}

// Reads a checked compressed chunk's payload (through *scratch) and decodes its `length` bytes
// into out. False when the LZ4 data is corrupt or decodes to another length.
inline bool read_lz4_chunk(net::Stream& s, const BulkChunkIn& c, std::vector<uint8_t>* scratch,
                           uint8_t* out) {
  scratch->resize(c.payload_len);
  read_payload(s, scratch->data(), scratch->size());
  auto got = codec::lz4_decompress(scratch->data(), scratch->size(), out, c.length);
  return got && *got == c.length;
}

// Lands a chunk that passed check(total) in host memory: copy_start is where the copy's byte 0
// goes. Throws net::NetError(kProtocol) for corrupt LZ4 data.
inline void read_bulk_chunk_to_host(net::Stream& s, const BulkChunkIn& c, uint8_t* copy_start,
                                    std::vector<uint8_t>* scratch) {
  uint8_t* dst = copy_start + c.offset;
  if (c.zero) {
    skip_payload(s, c.payload_len);
    std::memset(dst, 0, c.length);
  } else if (c.compressed) {
    if (!read_lz4_chunk(s, c, scratch, dst))
      throw net::NetError(net::NetError::kProtocol, "corrupt LZ4 bulk chunk");
  } else {
    read_payload(s, dst, c.length);  // straight into the destination
  }
}

}  // namespace rgpu
