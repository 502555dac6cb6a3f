// protocol/image/module_info.h: what the image parsers report about a module.
//
// Contract: plain data, filled by parse_cubin() (cubin.h), parse_ptx() (ptx.h) and
// parse_kernels() (kernel_table.h). Kernel names are the symbol names as they appear in the
// image (mangled for C++ kernels), which is what cuModuleGetFunction/cuLibraryGetKernel take.
// Attributes the image does not state are std::nullopt; a backend picks its own default
// (e.g. 1024 threads per block) and must not pretend the image said so.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/image/param_layout.h"

namespace rgpu::image {

enum class ImageKind : uint8_t { kFatbin = 1, kElf = 2, kPtx = 3 };
const char* image_kind_name(ImageKind kind);

// Per-kernel facts a sim backend can return from cuFuncGetAttribute.
struct KernelAttributes {
  std::optional<uint32_t> num_regs;              // CU_FUNC_ATTRIBUTE_NUM_REGS (EIATTR_REGCOUNT)
  std::optional<uint32_t> max_threads;           // __launch_bounds__/.maxntid/.reqntid product
  std::optional<uint32_t> static_shared_bytes;   // SHARED_SIZE_BYTES, without sm_90's 1 KiB
                                                 // reserved window (see shared_section_bytes)
  std::optional<uint32_t> shared_section_bytes;  // raw size of .nv.shared.<kernel>
  std::optional<uint32_t> local_bytes;           // LOCAL_SIZE_BYTES (EIATTR_FRAME_SIZE)
  std::optional<uint32_t> const_bytes;     // CONST_SIZE_BYTES: the module's user constant bank
                                           // (.nv.constant3), shared by all its kernels
  std::optional<uint32_t> binary_version;  // BINARY_VERSION, e.g. 90 (cubin only)
};

struct KernelInfo {
  std::string name;
  ParamLayout layout;
  KernelAttributes attributes;
};

// A __device__ / __constant__ variable (cuModuleGetGlobal).
struct GlobalVar {
  std::string name;
  uint64_t size = 0;
  bool is_constant = false;   // __constant__ (.nv.constant3 / PTX .const)
  std::vector<uint8_t> init;  // initial bytes when the image has them (cubin only); empty
                              // means zero-filled or unknown (PTX)
};

struct ModuleInfo {
  ImageKind parsed_kind = ImageKind::kElf;  // the image actually parsed (ELF or PTX)
  uint32_t sm_version = 0;                  // of that image, e.g. 90; 0 when unknown
  // For fatbins: false when no entry suited the requested SM and another was used (the
  // parameter layouts are the same across SMs, the code would not run there).
  bool sm_compatible = true;
  std::vector<KernelInfo> kernels;
  std::vector<GlobalVar> globals;

  const KernelInfo* find_kernel(std::string_view name) const;
  const GlobalVar* find_global(std::string_view name) const;
};

}  // namespace rgpu::image
