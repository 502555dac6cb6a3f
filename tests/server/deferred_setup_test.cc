// tests/server/deferred_setup_test.cc — start-up without round trips (protocol 11): cuMemAlloc
// placed by the client (ops.def MemAllocAt) and function lookups with the client's parsed layout
// (ModuleGetFunctionDeferred), their errors kept for the next sync call and answered by the
// handle's own calls; and the address arithmetic both ends share (protocol/va_allocator.h).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "protocol/image/kernel_table.h"
#include "protocol/image/param_layout.h"
#include "protocol/va_allocator.h"
#include "tests/server/sim_session_fixture.h"

namespace rgpu::server {
namespace {

// Where a client of this fixture's window places its allocations: the upper half.
constexpr uint64_t kPlaced = kBase + kDefaultVaSize / 2;

TEST(VaAllocator, AllocateAtTakesExactlyThatRangeOrNothing) {
  VaAllocator va;
  va.reset(0x100000, 0x1000000, 0x100000);
  EXPECT_TRUE(va.allocate_at(0x400000, 1));
  EXPECT_FALSE(va.allocate_at(0x400000, 1));          // in use
  EXPECT_FALSE(va.allocate_at(0x380000, 0x100000));   // not aligned
  EXPECT_FALSE(va.allocate_at(0x300000, 0x200000));   // overlaps the first
  EXPECT_FALSE(va.allocate_at(0x1000000, 0x200000));  // runs past the window
  EXPECT_FALSE(va.allocate_at(0x50000, 1));           // below it
  EXPECT_FALSE(va.allocate_at(0, 1));
  EXPECT_TRUE(va.allocate_at(0x300000, 0x100000));  // just below the first
  // First fit goes around what was placed.
  auto a = va.allocate(0x200000);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 0x100000u);
  EXPECT_EQ(va.release(0x400000), 0x100000u);
  EXPECT_TRUE(va.allocate_at(0x400000, 0x100000));  // free again
}

class DeferredSetup : public SimSession {
 protected:
  std::vector<uint8_t> payload_for(const std::string& name, const image::ParamLayout& layout) {
    std::vector<uint8_t> p(name.begin(), name.end());
    p.push_back(0);
    image::encode_param_layout(layout, &p);
    return p;
  }
  image::ParamLayout parsed_layout(const std::string& name) {
    auto img = test::read_file(RGPU_TEST_CUBIN);
    auto info = image::parse_kernels(img.data(), img.size(), 90);
    EXPECT_TRUE(info.ok());
    const image::KernelInfo* k = info.ok() ? info->find_kernel(name) : nullptr;
    EXPECT_NE(k, nullptr) << name;
    return k ? k->layout : image::ParamLayout{};
  }
  void lookup(uint64_t module, uint64_t fn, const std::string& name,
              const image::ParamLayout& layout) {
    auto p = payload_for(name, layout);
    async<op::ModuleGetFunctionDeferred>({module, fn}, p.data(), p.size());
  }
  void launch_vec_add(uint64_t fn, uint64_t a, uint64_t b, uint64_t c, int n) {
    op::LaunchKernel::Args l{};
    l.function = fn;
    l.grid[0] = l.grid[1] = l.grid[2] = 1;
    l.block[0] = l.block[1] = l.block[2] = 1;
    l.param_bytes = 28;
    uint8_t params[28];
    std::memcpy(params, &a, 8);
    std::memcpy(params + 8, &b, 8);
    std::memcpy(params + 16, &c, 8);
    std::memcpy(params + 24, &n, 4);
    async<op::LaunchKernel>(l, params, sizeof params);
  }
};

TEST_F(DeferredSetup, AClientPlacedAllocationIsMemoryAtThatAddress) {
  const uint64_t a = kPlaced, b = kPlaced + kVmmGranularity, c = kPlaced + 4 * kVmmGranularity;
  for (uint64_t p : {a, b, c}) async<op::MemAllocAt>({p, 64});
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  EXPECT_EQ(meter.mem_bytes(), backend.mem_used());
  EXPECT_GT(meter.mem_bytes(), 0u);
  float one[4] = {1, 2, 3, 4}, two[4] = {10, 20, 30, 40};
  async<op::MemcpyHtoD>({a, 16, 0, 0}, one, 16);
  async<op::MemcpyHtoD>({b, 16, 0, 0}, two, 16);
  load_module(1, RGPU_TEST_CUBIN);
  lookup(1, 100, "vec_add", parsed_layout("vec_add"));
  launch_vec_add(100, a, b, c, 4);
  auto out = dtoh(c, 16);
  ASSERT_EQ(out.size(), 16u);
  float got[4];
  std::memcpy(got, out.data(), 16);
  EXPECT_EQ(got[0], 11);
  EXPECT_EQ(got[3], 44);
  // Freed like any allocation, and the range can be placed again.
  async<op::MemFreeDeferred>({c});
  async<op::MemAllocAt>({c, 64});
  EXPECT_TRUE(sync<op::CtxSynchronize>({0}).status.ok());
}

TEST_F(DeferredSetup, APlacementThatCannotBeHonouredSurfacesAtTheNextSyncCall) {
  async<op::MemAllocAt>({kPlaced, 64});
  async<op::MemAllocAt>({kPlaced, 64});  // the range is in use
  OpReply r = sync<op::MemGetInfo>({0});
  EXPECT_EQ(r.status.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(r.status.text.find("cannot place"), std::string::npos) << r.status.text;
  async<op::MemAllocAt>({kPlaced + 4096 * 3, 64});  // not 2 MiB-aligned
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  async<op::MemAllocAt>({kPlaced + kVmmGranularity, kCap + 1});  // over the cap
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_OUT_OF_MEMORY);
  // The refused address is no allocation: a copy there is refused too.
  float x = 1;
  async<op::MemcpyHtoD>({kPlaced + kVmmGranularity, 4, 0, 0}, &x, 4);
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  // The lower half is the server's: a client placement there is refused.
  async<op::MemAllocAt>({kBase + 4 * kVmmGranularity, 64});
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());  // the session goes on
}

TEST_F(DeferredSetup, TheServerNeverPlacesInTheClientsHalf) {
  // Its own allocations, and a reservation whose hint lies in the upper half, stay below it.
  for (int i = 0; i < 4; ++i) EXPECT_LT(alloc(3 * kVmmGranularity), kPlaced);
  OpReply r = sync<op::AddressReserve>({4 * kVmmGranularity, 0, kPlaced});
  ASSERT_TRUE(r.status.ok()) << r.status.text;
  EXPECT_LT(result<op::AddressReserve::Result>(r).va, kPlaced);
  // So the client's placement there is always free.
  async<op::MemAllocAt>({kPlaced, 4 * kVmmGranularity});
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());
  // A placement takes whole 2 MiB granules: the next one starts a granule further on.
  async<op::MemAllocAt>({kPlaced + 4 * kVmmGranularity + 4096, 64});
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  async<op::MemAllocAt>({kPlaced + 5 * kVmmGranularity, 64});
  async<op::MemAllocAt>({kPlaced + 5 * kVmmGranularity + kVmmGranularity, 64});
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());
}

TEST_F(DeferredSetup, ALayoutThatDisagreesRefusesTheFunctionsLaunches) {
  load_module(1, RGPU_TEST_CUBIN);
  image::ParamLayout wrong = parsed_layout("vec_add");
  ASSERT_EQ(wrong.params.size(), 4u);
  wrong.params.pop_back();
  lookup(1, 100, "vec_add", wrong);
  OpReply r = sync<op::MemGetInfo>({0});
  EXPECT_EQ(r.status.code, CUDA_ERROR_INVALID_IMAGE);
  EXPECT_NE(r.status.text.find("laid out differently"), std::string::npos) << r.status.text;
  // The handle exists, and each of its calls says why it cannot be used.
  launch_vec_add(100, 0, 0, 0, 0);
  EXPECT_EQ(sync<op::CtxSynchronize>({0}).status.code, CUDA_ERROR_INVALID_IMAGE);
  EXPECT_EQ(sync<op::FuncGetAttribute>({100, CU_FUNC_ATTRIBUTE_NUM_REGS, 0}).status.code,
            CUDA_ERROR_INVALID_IMAGE);
  // A kernel the module does not have: NOT_FOUND at the next sync call, and at its launches.
  lookup(1, 101, "nope", wrong);
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_NOT_FOUND);
  launch_vec_add(101, 0, 0, 0, 0);
  EXPECT_EQ(sync<op::CtxSynchronize>({0}).status.code, CUDA_ERROR_NOT_FOUND);
  // A failed deferred load answers its deferred lookups the same way.
  std::vector<uint8_t> junk(256, 0x5A);
  async<op::ModuleLoadDeferred>({2, 0}, junk.data(), junk.size());
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());  // told by the module's own lookups
  lookup(2, 102, "vec_add", parsed_layout("vec_add"));
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_INVALID_IMAGE);
  // Malformed payloads: no name, a truncated layout.
  async<op::ModuleGetFunctionDeferred>({1, 103}, "", 1);
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  auto p = payload_for("vec_add", parsed_layout("vec_add"));
  p.pop_back();
  async<op::ModuleGetFunctionDeferred>({1, 104}, p.data(), p.size());
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  // The right layout works on the same module.
  lookup(1, 105, "vec_add", parsed_layout("vec_add"));
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());
}

}  // namespace
}  // namespace rgpu::server
