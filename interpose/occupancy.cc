// interpose/occupancy.cc — see occupancy.h.
#include "interpose/occupancy.h"

#include <algorithm>

namespace rgpu::occ {
namespace {

int64_t round_up(int64_t x, int64_t unit) {
  return (x + unit - 1) / unit * unit;
}

int64_t regs_per_warp(const OccDevice& d, const OccFunction& f) {
  return round_up(int64_t{f.num_regs} * d.warp_size, kRegUnit);
}

int function_limit(const OccDevice& d, const OccFunction& f) {
  return max_threads_per_block(d, f);
}

}  // namespace

int max_threads_per_block(const OccDevice& d, const OccFunction& f) {
  int64_t limit = d.max_threads_per_block;
  if (f.launch_bound > 0) limit = std::min<int64_t>(limit, f.launch_bound);
  const int64_t rpw = regs_per_warp(d, f);
  if (f.num_regs > kMaxRegsPerThread) return 0;
  if (rpw > 0) {
    // Whole groups of kSubPartitions warps must fit the per-block register file.
    int64_t warps = d.regs_per_block / rpw / kSubPartitions * kSubPartitions;
    limit = std::min<int64_t>(limit, warps * d.warp_size);
  }
  return static_cast<int>(std::max<int64_t>(limit, 0));
}

int max_active_blocks(const OccDevice& d, const OccFunction& f, int block_size,
                      size_t dynamic_smem) {
  if (block_size <= 0 || d.warp_size <= 0) return 0;
  if (block_size > function_limit(d, f)) return 0;
  const int64_t warps = (block_size + d.warp_size - 1) / d.warp_size;
  int64_t blocks = d.max_blocks_per_sm;
  // Warps.
  blocks = std::min<int64_t>(blocks, d.max_threads_per_sm / d.warp_size / warps);
  // Registers, per sub-partition.
  const int64_t rpw = regs_per_warp(d, f);
  if (rpw > 0) {
    if (rpw * round_up(warps, kSubPartitions) > d.regs_per_block) return 0;
    const int64_t warps_per_sub = d.regs_per_sm / kSubPartitions / rpw;
    blocks = std::min<int64_t>(blocks, warps_per_sub * kSubPartitions / warps);
  }
  // Shared memory.
  const int64_t smem = round_up(
      int64_t{f.static_smem} + d.reserved_smem_per_block + static_cast<int64_t>(dynamic_smem),
      kSmemUnit);
  if (smem - d.reserved_smem_per_block > d.smem_per_block_optin) return 0;
  if (smem > 0) blocks = std::min<int64_t>(blocks, d.smem_per_sm / smem);
  return static_cast<int>(std::max<int64_t>(blocks, 0));
}

size_t available_dynamic_smem(const OccDevice& d, const OccFunction& f, int num_blocks,
                              int block_size) {
  if (num_blocks <= 0 || max_active_blocks(d, f, block_size, 0) < num_blocks) return 0;
  int64_t per_block = d.smem_per_sm / num_blocks / kSmemUnit * kSmemUnit;
  per_block -= int64_t{f.static_smem} + d.reserved_smem_per_block;
  per_block = std::min<int64_t>(per_block, int64_t{d.smem_per_block_optin} - f.static_smem);
  return per_block > 0 ? static_cast<size_t>(per_block) : 0;
}

bool search_block_size(int limit, int warp_size, int max_threads_per_sm, int sm_count,
                       BlocksFor blocks_for, void* ctx, SmemForBlock smem_for, size_t dynamic_smem,
                       int* min_grid, int* block_size) {
  if (warp_size <= 0) return false;
  int best_block = 0, best_blocks = 0;
  int64_t best_threads = 0;
  // From the largest size down, one warp at a time (the first try is the limit itself).
  for (int b = limit; b > 0;) {
    size_t smem = smem_for ? smem_for(b) : dynamic_smem;
    int blocks = 0;
    if (!blocks_for(ctx, b, smem, &blocks)) return false;
    int64_t threads = int64_t{blocks} * b;
    if (threads > best_threads) {
      best_threads = threads;
      best_block = b;
      best_blocks = blocks;
    }
    if (best_threads >= max_threads_per_sm) break;  // cannot do better
    b = b % warp_size ? b / warp_size * warp_size : b - warp_size;
  }
  *block_size = best_block;
  *min_grid = best_blocks * sm_count;
  return true;
}

void potential_block_size(const OccDevice& d, const OccFunction& f, SmemForBlock smem_for,
                          size_t dynamic_smem, int block_size_limit, int* min_grid,
                          int* block_size) {
  int limit = function_limit(d, f);
  if (block_size_limit > 0) limit = std::min(limit, block_size_limit);
  struct Ctx {
    const OccDevice& d;
    const OccFunction& f;
  } ctx{d, f};
  search_block_size(
      limit, d.warp_size, d.max_threads_per_sm, d.sm_count,
      [](void* c, int b, size_t smem, int* blocks) {
        auto* x = static_cast<Ctx*>(c);
        *blocks = max_active_blocks(x->d, x->f, b, smem);
        return true;
      },
      &ctx, smem_for, dynamic_smem, min_grid, block_size);
}

}  // namespace rgpu::occ
