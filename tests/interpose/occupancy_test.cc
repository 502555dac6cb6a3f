// tests/interpose/occupancy_test.cc — interpose/occupancy.h against hand-computed H100 values
// (132 SMs, 2048 threads / 32 blocks / 64K registers / 228 KiB shared memory per SM, 1 KiB
// reserved per block, 227 KiB opt-in per block).
#include "interpose/occupancy.h"

#include <gtest/gtest.h>

namespace rgpu::occ {
namespace {

OccFunction fn(int regs, int static_smem = 0, int launch_bound = 0) {
  OccFunction f;
  f.num_regs = regs;
  f.static_smem = static_smem;
  f.launch_bound = launch_bound;
  return f;
}

const OccDevice kH100{};  // the defaults are H100's limits

TEST(Occupancy, ThreadLimited) {
  // 32 regs, 256 threads: 2048 / 256 = 8 blocks; registers allow 8 too (16 warps of 1024
  // registers per sub-partition -> 64 warps -> 8 blocks of 8 warps).
  EXPECT_EQ(max_active_blocks(kH100, fn(32), 256, 0), 8);
  // 100 threads take 4 warps: 64 / 4 = 16 blocks.
  EXPECT_EQ(max_active_blocks(kH100, fn(16), 100, 0), 16);
}

TEST(Occupancy, BlockCountLimited) {
  // 1-warp blocks with few registers: the 32-blocks-per-SM limit.
  EXPECT_EQ(max_active_blocks(kH100, fn(16), 32, 0), 32);
}

TEST(Occupancy, RegisterLimited) {
  // 64 regs: 2048 registers per warp, 8 warps per sub-partition, 32 per SM -> 4 blocks of 8.
  EXPECT_EQ(max_active_blocks(kH100, fn(64), 256, 0), 4);
  // 40 regs round up to 1280 per warp: 16384 / 1280 = 12 warps per sub-partition, 48 per SM.
  EXPECT_EQ(max_active_blocks(kH100, fn(40), 256, 0), 6);
  // 255 regs: 8192 per warp, 2 warps per sub-partition: one 256-thread block; 512 never fits.
  EXPECT_EQ(max_active_blocks(kH100, fn(255), 256, 0), 1);
  EXPECT_EQ(max_active_blocks(kH100, fn(255), 512, 0), 0);
  EXPECT_EQ(max_active_blocks(kH100, fn(256), 32, 0), 0);  // over the per-thread limit
}

TEST(Occupancy, SharedMemoryLimited) {
  // 48 KiB dynamic + 1 KiB reserved = 50176 B per block: 233472 / 50176 = 4.
  EXPECT_EQ(max_active_blocks(kH100, fn(32), 128, 48 * 1024), 4);
  // Static shared memory counts the same way, rounded up to 128 B: 40000 + 1024 -> 41088: 5.
  EXPECT_EQ(max_active_blocks(kH100, fn(32, 40000), 128, 0), 5);
  // Above the opt-in per-block limit: never.
  EXPECT_EQ(max_active_blocks(kH100, fn(32), 128, 232448 + 1), 0);
  EXPECT_EQ(max_active_blocks(kH100, fn(32), 128, 232448), 1);
}

TEST(Occupancy, LaunchBoundsAndBadSizes) {
  EXPECT_EQ(max_active_blocks(kH100, fn(32, 0, 128), 256, 0), 0);
  EXPECT_EQ(max_active_blocks(kH100, fn(32, 0, 128), 128, 0), 16);
  EXPECT_EQ(max_active_blocks(kH100, fn(32), 0, 0), 0);
  EXPECT_EQ(max_active_blocks(kH100, fn(32), 2048, 0), 0);  // above 1024 threads per block
}

TEST(Occupancy, MaxThreadsPerBlock) {
  EXPECT_EQ(max_threads_per_block(kH100, fn(32)), 1024);
  EXPECT_EQ(max_threads_per_block(kH100, fn(32, 0, 384)), 384);
  EXPECT_EQ(max_threads_per_block(kH100, fn(128)), 512);  // 4096 per warp: 16 warps
  EXPECT_EQ(max_threads_per_block(kH100, fn(255)), 256);
  EXPECT_EQ(max_threads_per_block(kH100, fn(72)), 896);  // 2304 per warp: 28 warps
}

TEST(Occupancy, AvailableDynamicSharedMemory) {
  // Two 256-thread blocks share 233472 B: 116736 each, less the reserved 1 KiB.
  EXPECT_EQ(available_dynamic_smem(kH100, fn(32), 2, 256), 116736u - 1024);
  // One block: capped by the opt-in limit.
  EXPECT_EQ(available_dynamic_smem(kH100, fn(32, 1000), 1, 256), 232448u - 1000);
  // More blocks than ever fit: nothing.
  EXPECT_EQ(available_dynamic_smem(kH100, fn(32), 9, 256), 0u);
}

size_t smem_256_per_thread(int block) {
  return static_cast<size_t>(block) * 256;
}

TEST(Occupancy, PotentialBlockSize) {
  int grid = 0, block = 0;
  potential_block_size(kH100, fn(32), nullptr, 0, 0, &grid, &block);
  EXPECT_EQ(block, 1024);  // 2 blocks of 1024 fill the SM
  EXPECT_EQ(grid, 2 * 132);
  // Limited to 200: 200 threads (7 warps) give 9 x 200 = 1800 resident threads, 192 give
  // 10 x 192 = 1920, 128 give 16 x 128 = 2048, a full SM.
  potential_block_size(kH100, fn(32), nullptr, 0, 200, &grid, &block);
  EXPECT_EQ(block, 128);
  EXPECT_EQ(grid, 16 * 132);
  // Shared memory that grows with the block: 896 threads (229376 + 1024 B, one block) beat
  // every larger size (over the per-block limit) and tie with 448 (two blocks).
  potential_block_size(kH100, fn(32), smem_256_per_thread, 0, 0, &grid, &block);
  EXPECT_EQ(block, 896);
  EXPECT_EQ(grid, 132);
}

}  // namespace
}  // namespace rgpu::occ
