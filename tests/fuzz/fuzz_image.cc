// Fuzz target: every image parser a ModuleLoad reaches (protocol/image/): fatbin containers and
// their entries (ZSTD/LZ4 decompression bounded), cubin ELF with .nv.info, PTX text — all
// through parse_kernels(), which picks the parser by the image's first bytes, and each parser
// directly.
#include "protocol/image/cubin.h"
#include "protocol/image/fatbin.h"
#include "protocol/image/kernel_table.h"
#include "protocol/image/ptx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rgpu::image;
  (void)parse_kernels(data, size, 90);
  (void)parse_cubin(data, size);
  (void)parse_ptx(reinterpret_cast<const char*>(data), size);
  auto entries = list_fatbin_entries(data, size);
  if (entries.ok())
    for (const auto& e : entries.value()) {
      auto c = entry_contents(e);
      if (c.ok()) (void)parse_kernels(c.value().data(), c.value().size(), 90);
    }
  return 0;
}
