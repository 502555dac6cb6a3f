// protocol/codec/probe.h: decide whether compressing a bulk copy is worth it.
//
// Contract: probe_compressible(p, n) LZ4-compresses one probe block of
// min(n, kProbeBytes) bytes taken from the middle of the buffer (the start of a buffer is
// often a header or zero padding) and reports worth_it = true when the probe shrank to at
// most kWorthRatio (3/4) of its size, i.e. saved at least 25%. Buffers shorter than
// kMinProbeBytes are never worth compressing. All-zero buffers are reported as worth_it with
// all_zero = true (callers send them as a length; see zero.h). The probe costs one LZ4 pass
// over at most kProbeBytes bytes and never reads outside [p, p+n).
#pragma once

#include <cstddef>

namespace rgpu::codec {

inline constexpr size_t kProbeBytes = 64 * 1024;
inline constexpr size_t kMinProbeBytes = 512;
inline constexpr double kWorthRatio = 0.75;

struct ProbeResult {
  bool worth_it = false;
  bool all_zero = false;
  size_t probed = 0;      // bytes compressed
  size_t compressed = 0;  // their compressed size (0 when nothing was probed)
};

ProbeResult probe_compressible(const void* p, size_t n);

}  // namespace rgpu::codec
