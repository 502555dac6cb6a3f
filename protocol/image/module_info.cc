#include "protocol/image/module_info.h"

namespace rgpu::image {

const char* image_kind_name(ImageKind kind) {
  switch (kind) {
    case ImageKind::kFatbin:
      return "fatbin";
    case ImageKind::kElf:
      return "ELF cubin";
    case ImageKind::kPtx:
      return "PTX";
  }
  return "unknown";
}

const KernelInfo* ModuleInfo::find_kernel(std::string_view name) const {
  for (const KernelInfo& k : kernels) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

const GlobalVar* ModuleInfo::find_global(std::string_view name) const {
  for (const GlobalVar& g : globals) {
    if (g.name == name) return &g;
  }
  return nullptr;
}

}  // namespace rgpu::image
