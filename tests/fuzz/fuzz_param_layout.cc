// Fuzz target: a kernel's parameter layout in its wire form (protocol/image/param_layout.h), as
// a server receives it with a ModuleGetFunction reply's peer; a decoded layout re-encodes to
// the same bytes and validates without reading outside itself.
#include "protocol/image/param_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = rgpu::image::decode_param_layout(data, size);
  if (!r.ok()) return 0;
  (void)rgpu::image::validate_param_layout(r.value());
  auto again = rgpu::image::decode_param_layout(rgpu::image::encode_param_layout(r.value()).data(),
                                                rgpu::image::encode_param_layout(r.value()).size());
  if (!again.ok() || !(again.value() == r.value())) __builtin_trap();
  return 0;
}
