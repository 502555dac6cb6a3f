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
#include <cstring>
#include <vector>

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
// A small meta (every Request and Reply) lives inside the InFrame: reading one costs no heap
// allocation.
struct InFrame {
  static constexpr size_t kInlineWords = 32;

  FrameKind kind{};
  uint16_t flags = 0;
  uint64_t payload_len = 0;

  InFrame() = default;
  // capnp::word cannot be copied, so the inline meta moves by memcpy.
  InFrame(InFrame&& o) noexcept { *this = std::move(o); }
  InFrame& operator=(InFrame&& o) noexcept {
    kind = o.kind;
    flags = o.flags;
    payload_len = o.payload_len;
    std::memcpy(static_cast<void*>(inline_), o.inline_, sizeof inline_);
    inline_words_ = o.inline_words_;
    heap_ = kj::mv(o.heap_);
    return *this;
  }

  kj::ArrayPtr<const capnp::word> meta() const {
    return heap_ != nullptr ? heap_.asPtr().asConst()
                            : kj::ArrayPtr<const capnp::word>(inline_, inline_words_);
  }
  // Reads the meta as a Cap'n Proto message. Throws kj::Exception on a malformed message;
  // callers in servers catch it and answer with an error.
  capnp::FlatArrayMessageReader reader() const { return capnp::FlatArrayMessageReader(meta()); }

 private:
  friend InFrame read_frame(net::Stream& s, uint32_t max_meta, uint64_t max_payload);
  capnp::word inline_[kInlineWords];
  size_t inline_words_ = 0;
  kj::Array<capnp::word> heap_;
};

// Writes one frame with a single write (writev) where the stream allows. `lead`, when given, is
// an encoded frame (encode_frame) sent in the same write just before this one.
void write_frame(net::Stream& s, FrameKind kind, capnp::MessageBuilder& meta,
                 const void* payload = nullptr, uint64_t payload_len = 0, uint16_t flags = 0,
                 const std::vector<uint8_t>* lead = nullptr);

// A frame without payload (header and meta) encoded into memory, to go out as the `lead` of the
// next write_frame: a reply and the first chunk of the data it announces then reach the reader
// in one write, and wake it once.
std::vector<uint8_t> encode_frame(FrameKind kind, capnp::MessageBuilder& meta);

// Reads a header and its meta. The payload stays in the stream: read it with read_payload() or
// drop it with skip_payload() before reading the next frame. max_meta / max_payload: tighter
// limits for frames that must be small (a Hello: protocol/handshake.h); over them is kProtocol.
InFrame read_frame(net::Stream& s, uint32_t max_meta = kMaxMetaBytes,
                   uint64_t max_payload = kMaxPayloadBytes);
void read_payload(net::Stream& s, void* dst, uint64_t len);
void skip_payload(net::Stream& s, uint64_t len);
// Reads len payload bytes into *out, growing it 1 MiB at a time as they arrive: a peer that
// promises more than it sends never makes this end allocate what it promised.
void read_payload_growing(net::Stream& s, uint64_t len, std::vector<uint8_t>* out);

}  // namespace rgpu
