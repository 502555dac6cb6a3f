// Fuzz target: BulkChunk frames of one copy as the receiving end lands them in host memory
// (protocol/bulk_chunk.h). The first 2 bytes give the copy's size (up to 64 KiB); every chunk
// that passes check() is written into a buffer of exactly that size, so any write outside it
// is an ASan report.
#include <cstring>
#include <vector>

#include "protocol/bulk_chunk.h"
#include "tests/fuzz/fuzz_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint16_t total;
  std::memcpy(&total, data, 2);
  rgpu::fuzz::BytesStream s(data + 2, size - 2);
  std::vector<uint8_t> dest(total), scratch;
  try {
    for (int i = 0; i < 64; ++i) {
      rgpu::BulkChunkIn c = rgpu::read_bulk_chunk(s);
      if (!c.check(total).empty()) {
        rgpu::skip_payload(s, c.payload_len);
        continue;
      }
      rgpu::read_bulk_chunk_to_host(s, c, dest.data(), &scratch);
      if (c.last) break;
    }
  } catch (const std::exception&) {
  }
  return 0;
}
