// Fuzz target: the first bytes an unauthenticated peer sends a server — a frame header, a Hello
// meta and whatever follows — through read_hello(), as a worker reads them, then read_frame()
// for the frames after it. Nothing may crash, hang or allocate past the limits (frame.h).
#include "protocol/frame.h"
#include "protocol/handshake.h"
#include "tests/fuzz/fuzz_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rgpu::fuzz::BytesStream s(data, size);
  try {
    auto h = rgpu::read_hello(s);
    (void)h.negotiated.ok;
    for (int i = 0; i < 4; ++i) {
      rgpu::InFrame f = rgpu::read_frame(s);
      std::vector<uint8_t> payload;
      rgpu::read_payload_growing(s, f.payload_len, &payload);
    }
  } catch (const std::exception&) {
  }
  return 0;
}
