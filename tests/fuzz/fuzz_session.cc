// Fuzz target: a session's op records and payloads as a worker receives them, after the frame
// and batch layers (server/worker/session.h: the dispatch, payload rules and handlers made from
// protocol/ops.def), against a fresh sim session with a 64 MiB cap. The input is a sequence of
//   u16 op, u16 args_len, u32 payload_len, args bytes, payload bytes
// run through sync() or async() by the op's class. An 8-byte argument word whose top 16 bits are
// 0xffff becomes an address inside the session's first megabyte (where its allocations start),
// so the fuzzer reaches real ranges; one whose top 16 bits are 0xfffe becomes one of the first
// 256 2 MiB granules of the window's upper half (where a client places its own allocations).
// Launches are not run, nor kept graphs holding one (fuzz_ptx runs kernels under an instruction
// bound); everything else is: every range and handle must be checked.
#include <cstring>
#include <vector>

#include "protocol/batch_record.h"
#include "server/backend/sim_backend.h"
#include "server/backend/sim_plugins.h"
#include "server/backend/va_window.h"
#include "server/worker/meter.h"
#include "server/worker/session.h"

namespace {
constexpr uint64_t kBase = 0x300000000000ull;
constexpr uint64_t kCap = 64ull << 20;

// Whether a GraphUpload's records (however malformed) hold a kernel launch.
bool holds_launch(const std::vector<uint8_t>& args, const uint8_t* payload, uint32_t len) {
  rgpu::op::GraphUpload::Args a{};
  if (args.size() != sizeof a) return false;
  std::memcpy(&a, args.data(), sizeof a);
  rgpu::BatchReader r(payload, len, a.count);
  rgpu::BatchRecord rec;
  while (r.next(&rec))
    if (rec.op == static_cast<uint16_t>(rgpu::Op::LaunchKernel)) return true;
  return false;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rgpu;
  using namespace rgpu::server;
  static SimKernelRegistry registry;
  SimBackend backend(&registry, 0);
  if (!backend.open({kBase, kDefaultVaSize, kCap}).ok()) __builtin_trap();
  SessionMeter meter;
  Session session(backend, meter);
  size_t at = 0;
  std::vector<uint8_t> args;
  while (at + 8 <= size) {
    uint16_t code, args_len;
    uint32_t payload_len;
    std::memcpy(&code, data + at, 2);
    std::memcpy(&args_len, data + at + 2, 2);
    std::memcpy(&payload_len, data + at + 4, 4);
    at += 8;
    if (args_len > size - at) break;
    args.assign(data + at, data + at + args_len);
    at += args_len;
    if (payload_len > size - at) payload_len = static_cast<uint32_t>(size - at);
    const uint8_t* payload = data + at;
    at += payload_len;
    for (size_t w = 0; w + 8 <= args.size(); w += 8) {
      uint64_t v;
      std::memcpy(&v, &args[w], 8);
      if ((v >> 48) == 0xffff) {
        v = kBase + (v & 0xfffff);
        std::memcpy(&args[w], &v, 8);
      } else if ((v >> 48) == 0xfffe) {  // the window's upper half, where clients place (2 MiB)
        v = kBase + rgpu::server::kDefaultVaSize / 2 + (v & 0xff) * rgpu::kVmmGranularity;
        std::memcpy(&args[w], &v, 8);
      }
    }
    // Kernels run unbounded on the sim: none directly, nor kept in a graph. Kept graphs are not
    // replayed either: one 16-byte GraphLaunch repeats up to 64 KiB of records (memsets of the
    // whole cap), which would make every input a timeout; a replay runs each record through
    // async(), the path a batch takes.
    if (code == static_cast<uint16_t>(Op::LaunchKernel) ||
        code == static_cast<uint16_t>(Op::GraphLaunch))
      continue;
    if (code == static_cast<uint16_t>(Op::GraphUpload) && holds_launch(args, payload, payload_len))
      continue;
    // A lane asks payload_check before it reads a payload; only then does the op run.
    if (!session.payload_check(code, args.data(), args.size(), payload_len).ok()) continue;
    auto cls = op_class(code);
    if (cls && *cls == OpClass::kAsync)
      session.async(code, args.data(), args.size(), payload, payload_len);
    else
      session.sync(code, args.data(), args.size(), payload, payload_len);
  }
  return 0;
}
