#include "protocol/codec/probe.h"

#include <cstdint>
#include <vector>

#include "protocol/codec/lz4_block.h"
#include "protocol/codec/zero.h"

namespace rgpu::codec {

ProbeResult probe_compressible(const void* p, size_t n) {
  ProbeResult r;
  if (p == nullptr || n < kMinProbeBytes) return r;
  if (is_all_zero(p, n)) {
    r.all_zero = true;
    r.worth_it = true;
    return r;
  }
  const size_t len = n < kProbeBytes ? n : kProbeBytes;
  const auto* start = static_cast<const uint8_t*>(p) + (n - len) / 2;
  thread_local std::vector<uint8_t> scratch;
  scratch.resize(lz4_compress_bound(len));
  auto c = lz4_compress(start, len, scratch.data(), scratch.size());
  r.probed = len;
  r.compressed = c ? *c : len;
  r.worth_it = c && static_cast<double>(*c) <= kWorthRatio * static_cast<double>(len);
  return r;
}

}  // namespace rgpu::codec
