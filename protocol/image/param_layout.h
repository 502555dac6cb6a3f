// protocol/image/param_layout.h: a kernel's parameter layout and its wire encoding.
//
// Contract: ParamLayout lists, per parameter ordinal, where the parameter starts in the packed
// parameter buffer and how many bytes it has (what cuFuncGetParamInfo reports). param_bytes is
// the size of the packed buffer: for cubins the compiler's total (EIATTR_PARAM_CBANK /
// EIATTR_CBANK_PARAM_SIZE), otherwise the end of the last parameter.
//
// Wire format (the ModuleGetFunction reply payload in protocol/ops.def), little-endian:
//   uint32 count, then count x { uint32 offset, uint32 size }.
// decode_param_layout() rejects short or trailing bytes, counts above kMaxWireParams,
// parameters that overlap or are not in increasing offset order, and offsets past 64 KiB
// (CUDA's largest kernel parameter space is 32764 bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "protocol/image/result.h"

namespace rgpu::image {

struct ParamInfo {
  uint32_t offset = 0;
  uint32_t size = 0;
  bool operator==(const ParamInfo&) const = default;
};

struct ParamLayout {
  std::vector<ParamInfo> params;  // indexed by parameter ordinal
  uint32_t param_bytes = 0;
  bool operator==(const ParamLayout&) const = default;
};

inline constexpr uint32_t kMaxWireParams = 8192;
inline constexpr uint32_t kMaxParamSpace = 65536;

// Appends the wire form of `layout` to `out`.
void encode_param_layout(const ParamLayout& layout, std::vector<uint8_t>* out);
std::vector<uint8_t> encode_param_layout(const ParamLayout& layout);

// Parses exactly `size` bytes. param_bytes is set to the end of the last parameter.
Result<ParamLayout> decode_param_layout(const uint8_t* data, size_t size);

// Checks offsets are increasing, parameters do not overlap, and everything fits below
// kMaxParamSpace and param_bytes. Returns an empty string when valid.
std::string validate_param_layout(const ParamLayout& layout);

}  // namespace rgpu::image
