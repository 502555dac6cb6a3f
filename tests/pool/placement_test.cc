// tests/pool/placement_test.cc — placement policies, labels, slices, exclusions; schedules.
#include <gtest/gtest.h>

#include "pool_manager/placement.h"
#include "pool_manager/schedule.h"

using namespace rgpu::pool;

namespace {

constexpr uint64_t GiB = 1ull << 30;

ProviderView prov(const std::string& id, std::vector<uint64_t> gpus_lent) {
  ProviderView p;
  p.id = p.name = id;
  uint32_t i = 0;
  for (auto l : gpus_lent) {
    GpuView g;
    g.index = i++;
    g.lent = l;
    p.gpus.push_back(g);
  }
  return p;
}

}  // namespace

TEST(Placement, BinpackFillsOneGpuSpreadUsesAll) {
  std::vector<ProviderView> ps = {prov("a", {16 * GiB}), prov("b", {16 * GiB})};
  PlacementRequest r;
  r.count = 2;
  r.vram = 4 * GiB;
  Placement bp = place(ps, r);
  ASSERT_TRUE(bp.ok) << bp.reason;
  EXPECT_EQ(bp.slots[0].provider, bp.slots[1].provider);
  r.policy = Policy::kSpread;
  Placement sp = place(ps, r);
  ASSERT_TRUE(sp.ok);
  EXPECT_NE(sp.slots[0].provider, sp.slots[1].provider);
}

TEST(Placement, BinpackPrefersFullerGpu) {
  auto a = prov("a", {16 * GiB});
  auto b = prov("b", {16 * GiB});
  b.gpus[0].leased = 8 * GiB;
  b.gpus[0].leases = 1;
  PlacementRequest r;
  r.vram = 4 * GiB;
  Placement p = place({a, b}, r);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.slots[0].provider, 1u);
  r.policy = Policy::kSpread;
  p = place({a, b}, r);
  EXPECT_EQ(p.slots[0].provider, 0u);
}

TEST(Placement, SlicesShareAGpuWholeIsExclusive) {
  std::vector<ProviderView> ps = {prov("a", {16 * GiB})};
  PlacementRequest r;
  r.count = 4;
  r.vram = 4 * GiB;
  Placement p = place(ps, r);
  ASSERT_TRUE(p.ok) << p.reason;
  for (auto& s : p.slots) EXPECT_EQ(s.gpu_index, 0u);
  r.count = 5;
  p = place(ps, r);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.reason.find("without enough free memory"), std::string::npos) << p.reason;
  // Whole GPU: takes the lent memory, and not a GPU that has a slice.
  PlacementRequest w;
  w.vram = 0;
  p = place(ps, w);
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.slots[0].whole);
  EXPECT_EQ(p.slots[0].vram, 16 * GiB);
  ps[0].gpus[0].leased = 1 * GiB;
  ps[0].gpus[0].leases = 1;
  EXPECT_FALSE(place(ps, w).ok);
  // A slice cannot go on a GPU held whole.
  ps[0].gpus[0].whole = true;
  ps[0].gpus[0].leased = 16 * GiB;
  EXPECT_FALSE(place(ps, r).ok);
}

TEST(Placement, LabelsMustMatch) {
  auto a = prov("a", {16 * GiB});
  a.labels = {{"region", "eu"}, {"gpu", "h100"}};
  auto b = prov("b", {16 * GiB});
  b.labels = {{"region", "us"}};
  PlacementRequest r;
  r.vram = GiB;
  r.labels = {{"region", "us"}};
  Placement p = place({a, b}, r);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.slots[0].provider, 1u);
  r.labels = {{"region", "eu"}, {"gpu", "h100"}};
  p = place({a, b}, r);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.slots[0].provider, 0u);
  r.labels = {{"region", "ap"}};
  p = place({a, b}, r);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.reason.find("2 without labels region=ap"), std::string::npos) << p.reason;
}

TEST(Placement, DrainedMissingOffScheduleSkipped) {
  auto a = prov("a", {16 * GiB});
  a.drained = true;
  auto b = prov("b", {16 * GiB});
  b.active = false;
  auto c = prov("c", {16 * GiB});
  c.in_schedule = false;
  auto d = prov("d", {2 * GiB});
  PlacementRequest r;
  r.vram = 4 * GiB;
  Placement p = place({a, b, c, d}, r);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.reason.find("1 missing"), std::string::npos) << p.reason;
  EXPECT_NE(p.reason.find("1 drained"), std::string::npos);
  EXPECT_NE(p.reason.find("1 outside their lending schedule"), std::string::npos);
  EXPECT_NE(p.reason.find("1 without enough free memory (most free on one GPU: 2.0 GiB)"),
            std::string::npos);
  r.vram = GiB;
  p = place({a, b, c, d}, r);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.slots[0].provider, 3u);
  EXPECT_NE(place({}, r).reason.find("no provider is registered"), std::string::npos);
}

TEST(Placement, AllOrNothing) {
  std::vector<ProviderView> ps = {prov("a", {8 * GiB, 8 * GiB})};
  PlacementRequest r;
  r.count = 3;
  r.vram = 0;
  Placement p = place(ps, r);
  EXPECT_FALSE(p.ok);
  EXPECT_TRUE(p.slots.empty());
  r.count = 2;
  p = place(ps, r);
  ASSERT_TRUE(p.ok);
  EXPECT_NE(p.slots[0].gpu_index, p.slots[1].gpu_index);
}

// Compute shares on one GPU never sum past what its provider lends (--lend-compute); a slice
// without a share reserves none; a whole GPU states none.
TEST(Placement, ComputeSharesStayWithinWhatIsLent) {
  std::vector<ProviderView> ps = {prov("a", {16 * GiB})};
  ps[0].gpus[0].compute_lent = 800;
  PlacementRequest r;
  r.vram = GiB;
  r.compute = 500;
  Placement p = place(ps, r);
  ASSERT_TRUE(p.ok) << p.reason;
  EXPECT_EQ(p.slots[0].compute, 500u);
  ps[0].gpus[0].leased = GiB, ps[0].gpus[0].leases = 1, ps[0].gpus[0].compute_leased = 500;
  r.compute = 400;  // 0.5 + 0.4 > 0.8
  p = place(ps, r);
  EXPECT_FALSE(p.ok);
  EXPECT_NE(p.reason.find("with compute 0.4"), std::string::npos) << p.reason;
  EXPECT_NE(p.reason.find("1 without 0.4 of a GPU's compute free"), std::string::npos) << p.reason;
  EXPECT_NE(p.reason.find("most free: 0.3"), std::string::npos) << p.reason;
  r.compute = 300;  // exactly what is left
  p = place(ps, r);
  ASSERT_TRUE(p.ok) << p.reason;
  r.compute = 0;  // no share: placed by memory alone, reserves nothing
  ps[0].gpus[0].compute_leased = 800;
  p = place(ps, r);
  ASSERT_TRUE(p.ok) << p.reason;
  EXPECT_EQ(p.slots[0].compute, 0u);
  // Two slices in one request each take their share from the same GPU.
  ps[0].gpus[0].leased = 0, ps[0].gpus[0].leases = 0, ps[0].gpus[0].compute_leased = 0;
  r.count = 2;
  r.compute = 400;
  p = place(ps, r);
  ASSERT_TRUE(p.ok) << p.reason;
  r.compute = 500;
  EXPECT_FALSE(place(ps, r).ok);
  // A whole GPU states no share: it has the GPU to itself.
  r.count = 1;
  r.vram = 0;
  r.compute = 0;
  p = place(ps, r);
  ASSERT_TRUE(p.ok) << p.reason;
  EXPECT_TRUE(p.slots[0].whole);
  EXPECT_EQ(p.slots[0].compute, 0u);
  // A server from before compute shares (it states none) gets no stated share, only slices
  // without one.
  ps[0].gpus[0].compute_lent = 0;
  r.vram = GiB;
  r.compute = 100;
  EXPECT_FALSE(place(ps, r).ok);
  r.compute = 0;
  EXPECT_TRUE(place(ps, r).ok);
}

TEST(Bytes, Format) {
  EXPECT_EQ(format_bytes(16 * GiB), "16.0 GiB");
}

TEST(Schedule, WindowsIncludingMidnightWrap) {
  Schedule s;
  std::string err;
  ASSERT_TRUE(Schedule::parse("22:00-07:00", &s, &err)) << err;
  EXPECT_TRUE(s.allows(22 * 60));
  EXPECT_TRUE(s.allows(23 * 60 + 59));
  EXPECT_TRUE(s.allows(0));
  EXPECT_TRUE(s.allows(6 * 60 + 59));
  EXPECT_FALSE(s.allows(7 * 60));
  EXPECT_FALSE(s.allows(12 * 60));
  EXPECT_FALSE(s.allows(21 * 60 + 59));
  ASSERT_TRUE(Schedule::parse("09:00-12:00,13:00-17:30", &s, &err));
  EXPECT_TRUE(s.allows(9 * 60));
  EXPECT_FALSE(s.allows(12 * 60 + 30));
  EXPECT_TRUE(s.allows(17 * 60 + 29));
  EXPECT_FALSE(s.allows(17 * 60 + 30));
  ASSERT_TRUE(Schedule::parse("", &s, &err));
  EXPECT_TRUE(s.always());
  ASSERT_TRUE(Schedule::parse("00:00-24:00", &s, &err));
  EXPECT_TRUE(s.allows(1439));
  for (const char* bad : {"22-07", "25:00-01:00", "10:00-10:00", "ab:cd-01:00", "10:00", ","}) {
    EXPECT_FALSE(Schedule::parse(bad, &s, &err)) << bad;
    EXPECT_FALSE(err.empty());
  }
}
