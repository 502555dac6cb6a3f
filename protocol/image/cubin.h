// protocol/image/cubin.h: kernels, parameter layouts, attributes and globals of an ELF cubin.
//
// Contract: parse_cubin() reads a complete cubin of `size` bytes (bounds-checked, see elf.h).
//   * Kernels: every `.nv.info.<name>` section with a matching `.text.<name>`, plus every
//     function symbol marked as a CUDA entry (st_other 0x10) that has a `.text.<name>`.
//   * Parameters: EIATTR_KPARAM_INFO (0x17) records of `.nv.info.<name>`, ordered by ordinal
//     (which must be 0..n-1 without gaps); param_bytes from EIATTR_PARAM_CBANK (0x0a) or
//     EIATTR_CBANK_PARAM_SIZE (0x19), else the end of the last parameter. A kernel whose
//     parameter bank is non-empty but has no KPARAM_INFO (e.g. only the undocumented
//     EIATTR_KPARAM_INFO_V2) makes the whole parse fail with an error naming it.
//   * Attributes: num_regs from EIATTR_REGCOUNT (0x2f) and local_bytes from EIATTR_FRAME_SIZE
//     (0x11) in the global `.nv.info` (keyed by symbol index); max_threads from
//     EIATTR_MAX_THREADS (0x05) or EIATTR_REQNTID (0x10); shared sizes from
//     `.nv.shared.<name>` (static_shared_bytes drops the 1 KiB reserved window that linked
//     sm_90+ cubins place at its start, as `ptxas -v` reports smem); const_bytes is the
//     size of the module's `.nv.constant3`; binary_version is the ELF's SM.
//   * Globals: OBJECT symbols defined in `.nv.global*` or `.nv.constant<N>` sections (N != 0),
//     with their initial bytes when the section has contents.
// .nv.info records are `u8 format, u8 attribute`; format 0x04 is followed by a u16 length and
// that many bytes, any other format by a u16 value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol/image/module_info.h"
#include "protocol/image/result.h"

namespace rgpu::image {

Result<ModuleInfo> parse_cubin(const uint8_t* data, size_t size);

}  // namespace rgpu::image
