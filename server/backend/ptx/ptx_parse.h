// server/backend/ptx/ptx_parse.h — PTX text to a decoded PtxModule (ptx_ir.h).
//
// Contract: parse_ptx_module() reads `size` bytes of PTX (NUL not required) and fills *out, or
// returns a sentence naming the first thing it cannot decode: "kernel K, PTX line N: <opcode>
// is not supported by the sim executor" for an instruction, or the syntax error and its line.
// It never reads outside the input, and allocates in proportion to it. Module-scope
// variables come back in PtxModule::globals with their initialisers; kernels list the
// module's variables first in Kernel::symbols, then their own (.shared, .local).
#pragma once

#include <cstddef>
#include <string>

#include "server/backend/ptx/ptx_ir.h"

namespace rgpu::server::ptx {

std::string parse_ptx_module(const char* text, size_t size, PtxModule* out);

}  // namespace rgpu::server::ptx
