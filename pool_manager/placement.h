// pool_manager/placement.h — where N vGPUs go. Pure: no clock, no store, no I/O.
//
// Contract:
// - A candidate GPU must belong to a provider that is active (heartbeats arrive), not drained,
//   inside its schedule, whose labels include every requested key=value, and whose GPU-hour
//   rate is at least its own minimum price and at most the request's maximum.
// - A whole-GPU request (vram 0) takes a GPU with no open lease and gets its lent memory; a slice
//   takes `vram` bytes from a GPU that is not held whole and has that much unleased memory, so
//   several slices share a GPU.
// - Compute shares (protocol/control/compute_share.h): a slice asking for `compute` also needs
//   that much of the GPU's lent compute (--lend-compute) not held by other leases' shares, so
//   the shares on one GPU never sum past what its provider lends (a server from before compute
//   shares lends none: it would not enforce them). A slice without a share reserves none. A
//   whole-GPU lease states no share: it has the GPU to itself.
// - binpack (default) fills the fullest GPU that still fits, so whole GPUs stay free; spread
//   puts each vGPU on the GPU with the fewest leases, then the most free memory, preferring
//   providers with fewer leases; nearest puts each vGPU on the provider with the lowest round
//   trip the client measured (`rtt_us`, by provider id; unmeasured ones after every measured
//   one), binpack among equals.
// - eligible() lists the providers that could take one vGPU of the request now (the same
//   rules), for the client to measure.
// - All N are placed or none. On failure `reason` says why, counting providers by what ruled
//   them out (missing, drained, outside schedule, labels, not enough memory, not enough
//   compute).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rgpu::pool {

enum class Policy { kBinpack, kSpread, kNearest };
bool parse_policy(const std::string& s, Policy* p);
const char* policy_text(Policy p);

struct GpuView {
  uint32_t index = 0;
  std::string name;
  uint64_t lent = 0;             // bytes the provider lends on this GPU
  uint64_t leased = 0;           // bytes held by open leases
  uint32_t leases = 0;           // open leases on it
  uint32_t compute_lent = 1000;  // thousandths of its device time lent (0: a server that
                                 // cannot enforce shares)
  uint32_t compute_leased = 0;   // held by open leases' shares
  bool whole = false;            // held by a whole-GPU lease
};

struct ProviderView {
  std::string id;
  std::string name;
  std::map<std::string, std::string> labels;
  bool active = true;
  bool drained = false;
  bool in_schedule = true;
  int64_t price = 0;      // the pool's GPU-hour rate for it, micro (billing.h)
  int64_t min_price = 0;  // the least it lends for (0: any)
  std::vector<GpuView> gpus;
};

struct PlacementRequest {
  uint32_t count = 1;
  uint64_t vram = 0;  // 0 = whole GPU
  std::map<std::string, std::string> labels;
  Policy policy = Policy::kBinpack;
  int64_t max_price = 0;                   // micro per GPU-hour; 0: no limit
  uint32_t compute = 0;                    // each slice's compute share, thousandths; 0: none
  std::map<std::string, uint32_t> rtt_us;  // nearest: provider id -> the client's round trip
};

struct Slot {
  size_t provider = 0;  // index into the views
  uint32_t gpu_index = 0;
  uint64_t vram = 0;
  bool whole = false;
  uint32_t compute = 0;  // its compute share (0 for a whole GPU)
};

struct Placement {
  bool ok = false;
  std::vector<Slot> slots;
  std::string reason;
};

Placement place(const std::vector<ProviderView>& providers, const PlacementRequest& req);
// Indices of the providers that could take one vGPU of `req` now, at most `limit`.
std::vector<size_t> eligible(const std::vector<ProviderView>& providers,
                             const PlacementRequest& req, size_t limit);

std::string format_bytes(uint64_t bytes);  // "16.0 GiB"

}  // namespace rgpu::pool
