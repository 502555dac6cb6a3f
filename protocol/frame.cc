// protocol/frame.cc — writing and reading data-plane frames.
#include "protocol/frame.h"

#include <algorithm>

#include <stdexcept>
#include <string>

namespace rgpu {

void write_frame(net::Stream& s, FrameKind kind, capnp::MessageBuilder& meta, const void* payload,
                 uint64_t payload_len, uint16_t flags, const std::vector<uint8_t>* lead) {
  const bool has_lead = lead != nullptr && !lead->empty();
  auto segments = meta.getSegmentsForOutput();
  // Flat-array encoding: segment table then segments, as capnp::messageToFlatArray writes.
  uint32_t nseg = static_cast<uint32_t>(segments.size());
  uint32_t table_words = (nseg + 2) / 2;  // (1 + nseg) u32s rounded up to whole words
  uint32_t table[64];
  if (nseg + 1 > 64) {
    // Never happens for our small metas; fall back to a copy.
    kj::Array<capnp::word> flat = capnp::messageToFlatArray(meta);
    FrameHeader h{kFrameMagic, static_cast<uint16_t>(kind),
                  flags,       static_cast<uint32_t>(flat.asBytes().size()),
                  0,           payload_len};
    iovec iov[4] = {
        {has_lead ? const_cast<uint8_t*>(lead->data()) : nullptr, has_lead ? lead->size() : 0},
        {&h, sizeof(h)},
        {flat.asBytes().begin(), flat.asBytes().size()},
        {const_cast<void*>(payload), payload_len}};
    s.writev_all(iov + (has_lead ? 0 : 1), (payload_len ? 3 : 2) + (has_lead ? 1 : 0));
    return;
  }
  table[0] = nseg - 1;
  uint64_t meta_bytes = table_words * 8ull;
  for (uint32_t i = 0; i < nseg; ++i) {
    table[i + 1] = static_cast<uint32_t>(segments[i].size());
    meta_bytes += segments[i].size() * 8ull;
  }
  if (nseg % 2 == 0) table[nseg + 1] = 0;
  if (meta_bytes > kMaxMetaBytes)
    throw net::NetError(net::NetError::kInvalid,
                        "frame meta too large: " + std::to_string(meta_bytes));
  FrameHeader h{kFrameMagic, static_cast<uint16_t>(kind),
                flags,       static_cast<uint32_t>(meta_bytes),
                0,           payload_len};
  iovec iov[17];
  int n = 0;
  if (has_lead) iov[n++] = {const_cast<uint8_t*>(lead->data()), lead->size()};
  iov[n++] = {&h, sizeof(h)};
  iov[n++] = {table, table_words * 8ull};
  if (nseg + 3 > 16) {
    // Many segments: flatten (rare; metas are small).
    kj::Array<capnp::word> flat = capnp::messageToFlatArray(meta);
    iovec iv[4] = {
        {has_lead ? const_cast<uint8_t*>(lead->data()) : nullptr, has_lead ? lead->size() : 0},
        {&h, sizeof(h)},
        {flat.asBytes().begin(), flat.asBytes().size()},
        {const_cast<void*>(payload), payload_len}};
    s.writev_all(iv + (has_lead ? 0 : 1), (payload_len ? 3 : 2) + (has_lead ? 1 : 0));
    return;
  }
  for (auto seg : segments) iov[n++] = {const_cast<capnp::word*>(seg.begin()), seg.size() * 8};
  if (payload_len) iov[n++] = {const_cast<void*>(payload), payload_len};
  s.writev_all(iov, n);
}

namespace {

// A Stream that only collects what is written (encode_frame).
class CollectingStream final : public net::Stream {
 public:
  explicit CollectingStream(std::vector<uint8_t>* out) : out_(out) {}
  void write_all(const void* d, size_t n) override {
    out_->insert(out_->end(), static_cast<const uint8_t*>(d), static_cast<const uint8_t*>(d) + n);
  }
  void writev_all(const struct iovec* iov, int n) override {
    for (int i = 0; i < n; ++i) write_all(iov[i].iov_base, iov[i].iov_len);
  }
  void read_exact(void*, size_t) override { throw std::logic_error("CollectingStream: no reads"); }
  size_t read_some(void*, size_t) override { throw std::logic_error("CollectingStream: no reads"); }
  void set_read_deadline(std::chrono::steady_clock::time_point) override {}  // never reads
  void shutdown() override {}
  int fd() const override { return -1; }
  std::string peer() const override { return "memory"; }

 private:
  std::vector<uint8_t>* out_;
};

}  // namespace

std::vector<uint8_t> encode_frame(FrameKind kind, capnp::MessageBuilder& meta) {
  std::vector<uint8_t> out;
  out.reserve(128);
  CollectingStream c(&out);
  write_frame(c, kind, meta);
  return out;
}

InFrame read_frame(net::Stream& s, uint32_t max_meta, uint64_t max_payload) {
  FrameHeader h;
  s.read_exact(&h, sizeof(h));
  if (h.magic != kFrameMagic)
    throw net::NetError(net::NetError::kProtocol,
                        "not an rgpu frame (bad magic); is the peer an rgpu endpoint?");
  if (h.kind < static_cast<uint16_t>(FrameKind::kHello) ||
      h.kind > static_cast<uint16_t>(FrameKind::kGoodbye))
    throw net::NetError(net::NetError::kProtocol, "unknown frame kind " + std::to_string(h.kind));
  if (h.meta_len == 0 || h.meta_len % 8 != 0 || h.meta_len > std::min(max_meta, kMaxMetaBytes))
    throw net::NetError(net::NetError::kProtocol,
                        "bad frame meta length " + std::to_string(h.meta_len));
  if (h.payload_len > std::min(max_payload, kMaxPayloadBytes))
    throw net::NetError(net::NetError::kProtocol,
                        "frame payload too large: " + std::to_string(h.payload_len));
  InFrame f;
  f.kind = static_cast<FrameKind>(h.kind);
  f.flags = h.flags;
  f.payload_len = h.payload_len;
  capnp::word* words_at;
  const size_t meta_words = h.meta_len / 8;
  if (meta_words <= InFrame::kInlineWords) {
    f.inline_words_ = meta_words;
    words_at = f.inline_;
  } else {
    f.heap_ = kj::heapArray<capnp::word>(meta_words);
    words_at = f.heap_.begin();
  }
  s.read_exact(words_at, h.meta_len);
  // Validate the segment table now so reader() cannot be handed a table that overruns.
  const uint32_t* table = reinterpret_cast<const uint32_t*>(words_at);
  uint64_t nseg = uint64_t(table[0]) + 1;
  uint64_t table_words = (nseg + 2) / 2;
  if (nseg > 512 || table_words > meta_words)
    throw net::NetError(net::NetError::kProtocol, "bad frame meta segment table");
  uint64_t words = table_words;
  for (uint64_t i = 0; i < nseg; ++i) words += table[i + 1];
  if (words != meta_words)
    throw net::NetError(net::NetError::kProtocol,
                        "frame meta segment sizes do not match its length");
  return f;
}

void read_payload(net::Stream& s, void* dst, uint64_t len) {
  s.read_exact(dst, len);
}

void read_payload_growing(net::Stream& s, uint64_t len, std::vector<uint8_t>* out) {
  constexpr uint64_t kStep = 1u << 20;
  out->clear();
  while (out->size() < len) {
    const size_t at = out->size();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len - at, kStep));
    out->resize(at + n);
    s.read_exact(out->data() + at, n);
  }
}

void skip_payload(net::Stream& s, uint64_t len) {
  char buf[65536];
  while (len > 0) {
    size_t n = len < sizeof(buf) ? static_cast<size_t>(len) : sizeof(buf);
    s.read_exact(buf, n);
    len -= n;
  }
}

}  // namespace rgpu
