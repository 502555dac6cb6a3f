// protocol/image/ptx.h: kernel signatures and module variables of PTX text.
//
// Contract: parse_ptx() reads `size` bytes of PTX (a NUL, if any, ends the text) and returns:
//   * every `.entry` at module scope with its parameter layout: each `.param` is placed at
//     the next multiple of its alignment (`.align N` when given, else the natural alignment
//     of its type), its size is type size x array extents (`.b8 name[32]`), and param_bytes
//     is the end of the last parameter. `.ptr [.space] [.align N]` attributes describe the
//     pointee and do not change the layout. max_threads is the product of `.maxntid` (or
//     `.reqntid`) when present; the other attributes are unknown in PTX (std::nullopt).
//   * every module-scope `.global`/`.const` variable that is defined here (not `.extern`)
//     and has a fixed size (type size x extents); `init` is left empty.
//   * sm_version from `.target sm_NN` (0 when absent).
// Comments and quoted strings are skipped. Malformed signatures (unknown parameter types,
// unbalanced brackets, missing names) give an error; the parser never reads past `size`.
#pragma once

#include <cstddef>
#include <cstdint>

#include "protocol/image/module_info.h"
#include "protocol/image/result.h"

namespace rgpu::image {

Result<ModuleInfo> parse_ptx(const char* text, size_t size);

}  // namespace rgpu::image
