// protocol/codec/compress_policy.cc — see compress_policy.h.
#include "protocol/codec/compress_policy.h"

#include <cstdlib>
#include <cstring>

namespace rgpu::codec {

std::optional<CompressMode> parse_compress_mode(const char* text) {
  if (text == nullptr || *text == '\0' || std::strcmp(text, "auto") == 0)
    return CompressMode::kAuto;
  if (std::strcmp(text, "on") == 0 || std::strcmp(text, "1") == 0) return CompressMode::kOn;
  if (std::strcmp(text, "off") == 0 || std::strcmp(text, "0") == 0) return CompressMode::kOff;
  return std::nullopt;
}

std::optional<double> parse_slow_threshold(const char* gbits_text) {
  if (gbits_text == nullptr || *gbits_text == '\0') return kDefaultSlowBitsPerSecond / 8;
  char* end = nullptr;
  double g = std::strtod(gbits_text, &end);
  if (end == gbits_text || *end != '\0' || !(g > 0) || g > 1e6) return std::nullopt;
  return g * 1e9 / 8;
}

void LinkMeter::add(uint64_t wire_bytes, uint64_t ns) {
  if (ns == 0) ns = 1;
  uint64_t b = bytes_.fetch_add(wire_bytes, std::memory_order_relaxed) + wire_bytes;
  uint64_t t = ns_.fetch_add(ns, std::memory_order_relaxed) + ns;
  if (b > kWindowBytes) {  // decay: the newest window weighs as much as all before it
    bytes_.store(b / 2, std::memory_order_relaxed);
    ns_.store(t / 2, std::memory_order_relaxed);
  }
}

std::optional<double> LinkMeter::estimate() const {
  uint64_t b = bytes_.load(std::memory_order_relaxed);
  uint64_t t = ns_.load(std::memory_order_relaxed);
  if (b < kMinBytes || t == 0) return std::nullopt;
  return static_cast<double>(b) * 1e9 / static_cast<double>(t);
}

bool link_is_slow(CompressMode mode, std::optional<double> bytes_per_s, double slow_bytes_per_s) {
  switch (mode) {
    case CompressMode::kOff:
      return false;
    case CompressMode::kOn:
      return true;
    case CompressMode::kAuto:
      return bytes_per_s.has_value() && *bytes_per_s < slow_bytes_per_s;
  }
  return false;
}

bool should_compress(CompressMode mode, std::optional<double> bytes_per_s, double slow_bytes_per_s,
                     bool probe_worth_it) {
  return probe_worth_it && link_is_slow(mode, bytes_per_s, slow_bytes_per_s);
}

}  // namespace rgpu::codec
