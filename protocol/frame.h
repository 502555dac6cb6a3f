// protocol/frame.h — the data plane's framed message stream.
//
// A frame is: FrameHeader (24 bytes, little-endian), then meta_len bytes holding one Cap'n Proto
// flat message (a struct from schema/data_plane.capnp chosen by `kind`), then payload_len raw
// bytes. One request gets one reply; batches get none. Payload bytes are not part of the Cap'n
// Proto message, so a reader can read them straight into their destination (read_payload).
//
// Errors: read_frame() throws net::NetError (kind kProtocol) for a bad magic, an unknown kind, or
// lengths over the limits below, and kClosed/kBroken when the peer goes away — never crashes and
// never allocates more than the limits, whatever the bytes say.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <cstdint>

#include "protocol/transport.h"

namespace rgpu {

inline constexpr uint32_t kFrameMagic = 0x55504752;  // "RGPU"
inline constexpr uint32_t kMaxMetaBytes = 16u << 20;
inline constexpr uint64_t kMaxPayloadBytes = 1ull << 32;  // one frame; bulk copies use chunks

enum class FrameKind : uint16_t {
  kHello = 1,
  kHelloReply = 2,
  kRequest = 3,
  kReply = 4,
  kBatch = 5,
  kBulkChunk = 6,
  kGoodbye = 7,
};

struct FrameHeader {
  uint32_t magic;
  uint16_t kind;
  uint16_t flags;
  uint32_t meta_len;
  uint32_t reserved;
  uint64_t payload_len;
};
static_assert(sizeof(FrameHeader) == 24);

// A frame whose meta has been read and whose payload (payload_len bytes) is still in the stream.
struct InFrame {
  FrameKind kind;
  uint16_t flags = 0;
  kj::Array<capnp::word> meta;
  uint64_t payload_len = 0;

  // Reads the meta as a Cap'n Proto message. Throws kj::Exception on a malformed message;
  // callers in servers catch it and answer with an error.
  capnp::FlatArrayMessageReader reader() const { return capnp::FlatArrayMessageReader(meta); }
};

// Writes one frame with a single write (writev) where the stream allows.
void write_frame(net::Stream& s, FrameKind kind, capnp::MessageBuilder& meta,
                 const void* payload = nullptr, uint64_t payload_len = 0, uint16_t flags = 0);

// Reads a header and its meta. The payload stays in the stream: read it with read_payload() or
// drop it with skip_payload() before reading the next frame.
InFrame read_frame(net::Stream& s);
void read_payload(net::Stream& s, void* dst, uint64_t len);
void skip_payload(net::Stream& s, uint64_t len);

}  // namespace rgpu
