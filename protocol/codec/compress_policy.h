// protocol/codec/compress_policy.h — when a bulk chunk goes LZ4-compressed.
//
// DESIGN: "compression stays off unless a link is slow and a probe block compresses".
//
// Contract:
// - CompressMode comes from RGPU_COMPRESS (parse_compress_mode): "off"/"0": never; "on"/"1":
//   whenever the probe says the chunk shrinks; "auto" (also unset or empty): only while the
//   link's measured bulk throughput is below the threshold and the probe says it shrinks. Any
//   other text is reported as invalid (the caller warns and uses auto).
// - The threshold defaults to kDefaultSlowBitsPerSecond (2 Gbit/s); RGPU_COMPRESS_GBITS=<x>
//   (a positive number of Gbit/s) overrides it (parse_slow_threshold).
// - LinkMeter measures one link's achieved bulk throughput from copies already done: bytes on
//   the wire (compressed sizes when compressed, so compressing does not make the link look fast)
//   over the time they took. Until kMinBytes were measured it has no estimate and the link counts
//   as fast (auto does not compress on a hunch). Samples decay: when kWindowBytes accumulate both
//   sums are halved, so the estimate follows a link whose speed changes. add() and estimate()
//   may be called from several threads (relaxed atomics; an estimate may mix two samples).
// - link_is_slow() and should_compress() are pure decisions (unit-tested in
//   tests/image/compress_policy_test.cc).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace rgpu::codec {

enum class CompressMode : uint8_t { kOff, kOn, kAuto };

inline constexpr double kDefaultSlowBitsPerSecond = 2e9;

// nullopt for text that names no mode.
std::optional<CompressMode> parse_compress_mode(const char* text);
// Bytes per second below which a link counts as slow; nullopt for text that is not a positive
// number of Gbit/s (null or empty text gives the default).
std::optional<double> parse_slow_threshold(const char* gbits_text);

class LinkMeter {
 public:
  static constexpr uint64_t kMinBytes = 8ull << 20;
  static constexpr uint64_t kWindowBytes = 512ull << 20;

  void add(uint64_t wire_bytes, uint64_t ns);
  // Bytes per second, or nullopt while fewer than kMinBytes were measured.
  std::optional<double> estimate() const;

 private:
  std::atomic<uint64_t> bytes_{0}, ns_{0};
};

// Whether chunks on a link measured at `bytes_per_s` (nullopt: not measured yet) may be
// compressed at all (before probing): kOn always, kOff never, kAuto when measured below
// `slow_bytes_per_s`.
bool link_is_slow(CompressMode mode, std::optional<double> bytes_per_s, double slow_bytes_per_s);
// The per-chunk decision: the link allows it and the probe block compresses.
bool should_compress(CompressMode mode, std::optional<double> bytes_per_s, double slow_bytes_per_s,
                     bool probe_worth_it);

}  // namespace rgpu::codec
