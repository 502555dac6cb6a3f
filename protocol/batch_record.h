// protocol/batch_record.h — the records inside a Batch frame, written and read by both ends.
//
// Contract: Batch.records (schema/data_plane.capnp) holds `count` records packed one after
// another. A record is a BatchRecordHeader {u16 op, u16 flags, u32 args_len, u32 payload_len,
// u32 pad}, then args_len bytes of the op's Args record, then payload_len payload bytes, then
// zero bytes up to the next multiple of 8 (batch_record_size()).
// - append_batch_record() writes one record at the end of a byte vector and returns where its
//   payload goes (the caller fills exactly payload_len bytes there), or null when a length does
//   not fit its 32-bit field (nothing is written then).
// - check_batch() walks a received batch without running anything: it names the first fault
//   (fewer bytes than `count` records need, a record whose lengths run past the batch's end, its
//   padding missing, or bytes left over after the last record) and never reads outside
//   [data, data+size), whatever the bytes say. BatchReader then yields the records of a batch
//   check_batch() accepted; on any other batch it stops at the first fault and says why.
// Record contents (an op number nobody serves, Args of the wrong size) are the receiver's to
// judge; this header only frames them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace rgpu {

struct BatchRecordHeader {
  uint16_t op;
  uint16_t flags;
  uint32_t args_len;
  uint32_t payload_len;
  uint32_t pad;
};
static_assert(sizeof(BatchRecordHeader) == 16);

// Bytes one record takes in a batch, padding included.
constexpr uint64_t batch_record_size(uint64_t args_len, uint64_t payload_len) {
  return (sizeof(BatchRecordHeader) + args_len + payload_len + 7) & ~uint64_t{7};
}

// Appends a record (header, args, room for payload_len bytes, zero padding) to `batch`.
// Returns where the payload goes, or null (batch unchanged) when a length exceeds 32 bits.
inline uint8_t* append_batch_record(std::vector<uint8_t>* batch, uint16_t op, const void* args,
                                    size_t args_len, size_t payload_len) {
  constexpr size_t kMax = std::numeric_limits<uint32_t>::max();
  if (args_len > kMax || payload_len > kMax) return nullptr;
  const BatchRecordHeader h{op, 0, static_cast<uint32_t>(args_len),
                            static_cast<uint32_t>(payload_len), 0};
  const size_t at = batch->size();
  batch->resize(at + batch_record_size(args_len, payload_len));  // new bytes are zero
  uint8_t* p = batch->data() + at;
  std::memcpy(p, &h, sizeof h);
  if (args_len) std::memcpy(p + sizeof h, args, args_len);
  return p + sizeof h + args_len;
}

// The same, copying payload_len bytes from `payload`. False when a length exceeds 32 bits.
inline bool append_batch_record(std::vector<uint8_t>* batch, uint16_t op, const void* args,
                                size_t args_len, const void* payload, size_t payload_len) {
  uint8_t* dst = append_batch_record(batch, op, args, args_len, payload_len);
  if (!dst) return false;
  if (payload_len) std::memcpy(dst, payload, payload_len);
  return true;
}

// One record of a received batch; args and payload point into the batch's bytes.
struct BatchRecord {
  uint16_t op = 0;
  uint16_t flags = 0;
  const uint8_t* args = nullptr;
  uint32_t args_len = 0;
  const uint8_t* payload = nullptr;
  uint32_t payload_len = 0;
};

class BatchReader {
 public:
  BatchReader(const uint8_t* data, uint64_t size, uint32_t count)
      : data_(data), size_(size), left_(count) {}

  // The next record: true with *out filled; false at the end of the batch (error() empty) or at
  // a fault (error() says which).
  bool next(BatchRecord* out) {
    if (!error_.empty() || left_ == 0) return false;
    const uint64_t rest = size_ - off_;
    BatchRecordHeader h;
    if (rest < sizeof h) return fail("batch is shorter than its record count");
    std::memcpy(&h, data_ + off_, sizeof h);
    const uint64_t body = uint64_t{h.args_len} + h.payload_len;
    if (body > rest - sizeof h) return fail("batch record runs past the batch's end");
    const uint64_t rec = batch_record_size(h.args_len, h.payload_len);
    if (rec > rest) return fail("batch record's padding runs past the batch's end");
    out->op = h.op;
    out->flags = h.flags;
    out->args = data_ + off_ + sizeof h;
    out->args_len = h.args_len;
    out->payload = out->args + h.args_len;
    out->payload_len = h.payload_len;
    off_ += rec;
    --left_;
    return true;
  }

  // Bytes after the records read so far (nonzero after the last one: an overlong batch).
  uint64_t remaining() const { return size_ - off_; }
  const std::string& error() const { return error_; }

 private:
  bool fail(const char* why) {
    error_ = why;
    return false;
  }

  const uint8_t* data_;
  uint64_t size_;
  uint64_t off_ = 0;
  uint32_t left_;
  std::string error_;
};

// Walks a whole batch; empty when it is well formed, else what is wrong with it.
inline std::string check_batch(const uint8_t* data, uint64_t size, uint32_t count) {
  BatchReader r(data, size, count);
  BatchRecord rec;
  while (r.next(&rec)) {
  }
  if (!r.error().empty()) return r.error();
  if (r.remaining() != 0) return "batch holds bytes after its last record";
  return {};
}

}  // namespace rgpu
