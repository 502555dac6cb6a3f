#include "protocol/image/param_layout.h"

#include <string>

#include "protocol/image/byte_reader.h"

namespace rgpu::image {

namespace {
void put_u32(std::vector<uint8_t>* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
}  // namespace

void encode_param_layout(const ParamLayout& layout, std::vector<uint8_t>* out) {
  out->reserve(out->size() + 4 + 8 * layout.params.size());
  put_u32(out, static_cast<uint32_t>(layout.params.size()));
  for (const ParamInfo& p : layout.params) {
    put_u32(out, p.offset);
    put_u32(out, p.size);
  }
}

std::vector<uint8_t> encode_param_layout(const ParamLayout& layout) {
  std::vector<uint8_t> out;
  encode_param_layout(layout, &out);
  return out;
}

std::string validate_param_layout(const ParamLayout& layout) {
  uint64_t end = 0;
  for (size_t i = 0; i < layout.params.size(); ++i) {
    const ParamInfo& p = layout.params[i];
    if (p.offset < end) {
      return "parameter " + std::to_string(i) + " at offset " + std::to_string(p.offset) +
             " overlaps the previous one (which ends at " + std::to_string(end) + ")";
    }
    end = uint64_t{p.offset} + p.size;
    if (end > kMaxParamSpace) {
      return "parameter " + std::to_string(i) + " ends at " + std::to_string(end) +
             ", past the parameter space limit";
    }
  }
  if (end > layout.param_bytes) {
    return "parameters end at " + std::to_string(end) + " but param_bytes is " +
           std::to_string(layout.param_bytes);
  }
  return {};
}

Result<ParamLayout> decode_param_layout(const uint8_t* data, size_t size) {
  uint32_t count = 0;
  if (data == nullptr || !read_le(data, size, 0, &count)) {
    return Result<ParamLayout>::fail("param layout: shorter than its 4-byte count");
  }
  if (count > kMaxWireParams) {
    return Result<ParamLayout>::fail("param layout: count " + std::to_string(count) +
                                     " exceeds the limit");
  }
  if (size != 4 + uint64_t{count} * 8) {
    return Result<ParamLayout>::fail("param layout: " + std::to_string(size) + " bytes for " +
                                     std::to_string(count) + " parameters");
  }
  ParamLayout layout;
  layout.params.resize(count);
  uint64_t end = 0;
  for (uint32_t i = 0; i < count; ++i) {
    layout.params[i].offset = load_le<uint32_t>(data + 4 + 8 * i);
    layout.params[i].size = load_le<uint32_t>(data + 8 + 8 * i);
    end = uint64_t{layout.params[i].offset} + layout.params[i].size;
    if (end > kMaxParamSpace) {
      return Result<ParamLayout>::fail("param layout: parameter " + std::to_string(i) +
                                       " ends past the parameter space limit");
    }
  }
  layout.param_bytes = static_cast<uint32_t>(end);
  if (std::string err = validate_param_layout(layout); !err.empty()) {
    return Result<ParamLayout>::fail("param layout: " + err);
  }
  return layout;
}

}  // namespace rgpu::image
