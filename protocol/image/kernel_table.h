// protocol/image/kernel_table.h: kernels, parameter layouts and globals of any module image.
//
// Contract: parse_kernels() accepts the bytes as shipped by the client (see image_span.h):
// a fatbin container, a raw ELF cubin or PTX text (a __fatBinC_Wrapper_t must first be
// resolved with locate_image()). For a fatbin it picks one entry:
//   1. the ELF whose SM equals `sm`, else the ELF with the highest SM below `sm`;
//   2. else the PTX with the highest SM <= `sm`;
//   3. else (nothing suits `sm`) the lowest-SM ELF, else the lowest-SM PTX, with
//      ModuleInfo::sm_compatible = false (the layouts are still right; the code would need
//      a different GPU).
// Errors (malformed or truncated images, corrupt compressed entries, an empty fatbin) come
// back as Result::fail with a message; nothing throws and nothing reads out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol/image/fatbin.h"
#include "protocol/image/module_info.h"
#include "protocol/image/result.h"

namespace rgpu::image {

Result<ModuleInfo> parse_kernels(const uint8_t* data, size_t size, int sm = 90);

// The fatbin entry parse_kernels() would use (index into `entries`), or -1 when empty.
// Sets *compatible as described above.
int choose_fatbin_entry(const std::vector<FatbinEntry>& entries, int sm, bool* compatible);

}  // namespace rgpu::image
