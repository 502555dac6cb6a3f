// interpose/occupancy.h — CUDA's occupancy arithmetic, answered in the client.
//
// Contract: pure functions of the device's limits (OccDevice, from DeviceProps) and a
// function's resources (OccFunction, from the image's kernel attributes); no I/O, no state.
// They follow the rules of the toolkit's occupancy calculator for compute capability 7.0+:
// - a block takes ceil(threads / warp) warps; warps per SM limit the blocks;
// - registers go to warps, regs * warp size rounded up to 256 per warp, spread over 4 SM
//   sub-partitions; a block that does not fit the per-block register file (warps rounded up to
//   the 4 sub-partitions) or uses more than 255 registers per thread fits 0 times;
// - shared memory per block is static + dynamic + the driver's reserved bytes, rounded up to
//   128 bytes; a block over the opt-in per-block limit fits 0 times;
// - at most max_blocks_per_sm blocks, and 0 when the block is larger than the function allows.
// Inputs outside the device (block_size <= 0) give 0 blocks; callers check arguments first.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rgpu::occ {

struct OccDevice {
  int warp_size = 32;
  int max_threads_per_block = 1024;
  int max_threads_per_sm = 2048;
  int max_blocks_per_sm = 32;
  int regs_per_sm = 65536;
  int regs_per_block = 65536;
  int smem_per_sm = 233472;            // the largest carveout
  int smem_per_block_optin = 232448;   // what a block may opt in to
  int reserved_smem_per_block = 1024;  // the driver's own, per block
  int sm_count = 132;
};

struct OccFunction {
  int num_regs = 0;      // per thread
  int static_smem = 0;   // bytes of __shared__ declared in the kernel
  int launch_bound = 0;  // __launch_bounds__/.maxntid threads per block; 0: none
};

// Register allocation unit (per warp), SM sub-partitions, shared memory allocation unit.
inline constexpr int kRegUnit = 256;
inline constexpr int kSubPartitions = 4;
inline constexpr int kSmemUnit = 128;
inline constexpr int kMaxRegsPerThread = 255;

// CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK: the device's limit, the launch bound and what the
// register file allows, in whole warps.
int max_threads_per_block(const OccDevice& d, const OccFunction& f);
// cuOccupancyMaxActiveBlocksPerMultiprocessor.
int max_active_blocks(const OccDevice& d, const OccFunction& f, int block_size,
                      size_t dynamic_smem);
// cuOccupancyAvailableDynamicSMemPerBlock: the dynamic shared memory each of num_blocks blocks
// of block_size threads may use while all of them fit on one SM (0 when they never fit).
size_t available_dynamic_smem(const OccDevice& d, const OccFunction& f, int num_blocks,
                              int block_size);
// cuOccupancyMaxPotentialBlockSize: the block size (a warp multiple, or the limit itself) with
// the most resident threads per SM, the larger on ties; smem_for(block) gives the dynamic
// shared memory a block size needs (null: dynamic_smem for all). min_grid = blocks per SM at
// that size times the SM count.
using SmemForBlock = size_t (*)(int block_size);
void potential_block_size(const OccDevice& d, const OccFunction& f, SmemForBlock smem_for,
                          size_t dynamic_smem, int block_size_limit, int* min_grid,
                          int* block_size);
// The same search for any source of blocks per SM (e.g. a server's answers): `limit` is the
// largest block size to try; returns false (outputs untouched) when blocks_for fails.
using BlocksFor = bool (*)(void* ctx, int block_size, size_t dynamic_smem, int* blocks);
bool search_block_size(int limit, int warp_size, int max_threads_per_sm, int sm_count,
                       BlocksFor blocks_for, void* ctx, SmemForBlock smem_for, size_t dynamic_smem,
                       int* min_grid, int* block_size);

}  // namespace rgpu::occ
