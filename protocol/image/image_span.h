// protocol/image/image_span.h: find the bytes to ship for a module image given only a pointer.
//
// Contract: cuModuleLoadData/cuLibraryLoadData/cuModuleLoadFatBinary pass `const void* code`
// with no size. locate_image() recognises, in this order:
//   * a __fatBinC_Wrapper_t {u32 magic 0x466243b1, u32 version 1, const void* data, ...}:
//     follows ->data to the fatbin header and returns that container (via_wrapper = true);
//   * a fatbin header {u32 magic 0xba55ed50, u16 version 1, u16 header_size, u64 fat_size}:
//     size = header_size + fat_size;
//   * a 64-bit EM_CUDA ELF: size = elf_image_size() (elf.h);
//   * PTX text (optional leading whitespace/comments, then a '.' directive): strlen + 1.
// It reads only what each format declares to be there, validating header fields first
// (header_size in [16, 4096], fat_size and ELF sizes at most kMaxImageBytes, PTX at most
// kMaxImageBytes). Anything else, or a null pointer, gives std::nullopt.
//
// locate_image_in() is the same for a buffer of known size (the server side, tests): the
// returned span must fit inside it; it never reads past `size`. It does not follow wrappers
// (their data pointer leads outside the buffer), and it accepts PTX text that fills the
// buffer without a terminating NUL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "protocol/image/module_info.h"

namespace rgpu::image {

inline constexpr uint32_t kFatbinWrapperMagic = 0x466243b1;
inline constexpr uint32_t kFatbinMagic = 0xba55ed50;

struct ImageSpan {
  ImageKind kind = ImageKind::kFatbin;  // of the bytes in [data, data+size)
  const uint8_t* data = nullptr;        // the bytes to ship (the fatbin, not the wrapper)
  size_t size = 0;
  bool via_wrapper = false;  // `code` was a __fatBinC_Wrapper_t
};

// Client side: trusts `code` to point at a whole image of one of the kinds above.
std::optional<ImageSpan> locate_image(const void* code);

// Known-size variant: never reads outside [data, data+size).
std::optional<ImageSpan> locate_image_in(const void* data, size_t size);

}  // namespace rgpu::image
