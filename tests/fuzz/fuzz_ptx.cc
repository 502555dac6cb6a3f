// Fuzz target: the sim's PTX executor (server/backend/ptx/), which reads PTX text a client sent
// in a ModuleLoad: parse and decode every kernel, then run the first one (one block of up to 64
// threads, at most 20,000 thread-instructions) against one 4 KiB allocation that every pointer
// parameter names. Every access must be checked: ASan fails the run on any that escapes.
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "server/backend/ptx/ptx_exec.h"
#include "server/backend/ptx/ptx_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rgpu::server::ptx;
  PtxModule m;
  if (!parse_ptx_module(reinterpret_cast<const char*>(data), size, &m).empty()) return 0;
  if (m.kernels.empty()) return 0;
  const Kernel& k = m.kernels[0];
  // Device memory: one 4 KiB allocation, and one per module variable (up to 64 KiB in all).
  std::vector<std::vector<uint8_t>> memory;
  std::map<uint64_t, uint64_t> allocs;
  memory.emplace_back(4096);
  const uint64_t buffer = reinterpret_cast<uint64_t>(memory.back().data());
  allocs[buffer] = 4096;
  uint64_t variable_bytes = 0;
  LaunchMemory mem;
  for (const Symbol& s : k.symbols) {
    uint64_t addr = 0;
    if (s.space == Space::kGlobal || s.space == Space::kConst) {
      variable_bytes += s.size;
      if (variable_bytes > 65536) return 0;
      memory.emplace_back(s.size ? s.size : 1);
      addr = reinterpret_cast<uint64_t>(memory.back().data());
      allocs[addr] = memory.back().size();
    }
    mem.symbol_addr.push_back(addr);
  }
  std::vector<std::vector<uint64_t>> function_addr;
  for (const Kernel& f : m.functions) {
    std::vector<uint64_t> addr;
    for (const Symbol& s : f.symbols) {
      uint64_t a = 0;
      for (size_t i = 0; i < k.symbols.size(); ++i)
        if (k.symbols[i].name == s.name) a = mem.symbol_addr[i];
      addr.push_back(a);
    }
    function_addr.push_back(addr);
  }
  mem.allocs = &allocs;
  mem.functions = &m.functions;
  mem.function_symbol_addr = &function_addr;
  mem.max_block_instructions = 20000;
  std::vector<uint8_t> params(k.param_bytes);
  for (size_t i = 0; i + 8 <= params.size(); i += 8) std::memcpy(&params[i], &buffer, 8);
  LaunchShape shape;
  shape.block[0] = 1 + static_cast<uint32_t>(size % 64);
  shape.dynamic_shared = 256;
  if (static_cast<uint64_t>(k.slots) * shape.block[0] > (1u << 22)) return 0;
  uint64_t executed = 0;
  (void)execute(k, shape, params.data(), static_cast<uint32_t>(params.size()), mem, &executed);
  return 0;
}
