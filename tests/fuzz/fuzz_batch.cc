// Fuzz target: a Batch's record area as a worker receives it (protocol/batch_record.h). The
// first 4 bytes are the record count the Batch meta claims; the rest are the records.
#include <cstring>

#include "protocol/batch_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t count;
  std::memcpy(&count, data, 4);
  const uint8_t* body = data + 4;
  const size_t n = size - 4;
  rgpu::BatchReader r(body, n, count);
  rgpu::BatchRecord rec;
  uint64_t seen = 0;
  while (r.next(&rec)) {
    // Every record the reader hands out lies inside the batch.
    if (rec.args < body || rec.args + rec.args_len > body + n ||
        rec.payload + rec.payload_len > body + n)
      __builtin_trap();
    ++seen;
  }
  (void)rgpu::check_batch(body, n, count);
  return static_cast<int>(seen & 0);
}
