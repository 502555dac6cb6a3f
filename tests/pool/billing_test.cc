// tests/pool/billing_test.cc — money parsing and what a session costs and earns (billing.h).
#include <gtest/gtest.h>

#include <limits>

#include "pool_manager/billing.h"

using namespace rgpu::pool;

TEST(Money, ParsesDecimalsExactlyAndRefusesTheRest) {
  int64_t m = 0;
  ASSERT_TRUE(parse_money("0.5", &m));
  EXPECT_EQ(m, 500000);
  ASSERT_TRUE(parse_money("12", &m));
  EXPECT_EQ(m, 12 * kMicro);
  ASSERT_TRUE(parse_money("0.000001", &m));
  EXPECT_EQ(m, 1);
  ASSERT_TRUE(parse_money(".25", &m));
  EXPECT_EQ(m, 250000);
  for (const char* bad :
       {"", "-1", "1.", ".", "1.0000001", "1e3", "0x10", " 1", "1,5", "2000000000000", "nan"})
    EXPECT_FALSE(parse_money(bad, &m)) << bad;
  EXPECT_EQ(format_money(500000), "0.500000");
  EXPECT_EQ(format_money(12 * kMicro + 7), "12.000007");
  EXPECT_EQ(format_money(-1), "-0.000001");
}

TEST(Billing, ProviderRateBeatsModelRateBeatsDefault) {
  RateCard r;
  r.gpu_hour = 100;
  r.gpu_hour_by_model["H100"] = 200;
  r.gpu_hour_by_provider["alice"] = 300;
  EXPECT_EQ(r.gpu_hour_rate("bob", "A10"), 100);
  EXPECT_EQ(r.gpu_hour_rate("bob", "H100"), 200);
  EXPECT_EQ(r.gpu_hour_rate("alice", "H100"), 300);
}

TEST(Billing, ChargeAddsGpuTimeMemoryAndTransfersAndSplitsTheFeeExactly) {
  RateCard r;
  r.version = 3;
  r.gpu_hour = 500000;  // 0.50 per GPU-hour
  r.gib_hour = 10000;   // 0.01 per GiB-hour
  r.gb_moved = 20000;   // 0.02 per GB
  r.fee_ppm = 150000;   // 15 %
  SessionFacts s;
  s.usage.wall_ms = 3'600'000;  // one hour held
  s.usage.busy_ns = 1'800'000'000'000;
  s.usage.mem_gb_s = 1.073741824 * 3600;  // 1 GiB for an hour
  s.usage.bytes_in = 1'500'000'000;
  s.usage.bytes_out = 500'000'000;  // 2 GB moved
  s.whole_gpu = true;
  Charge c = charge(r, s);
  EXPECT_EQ(c.rate_version, 3);
  EXPECT_EQ(c.billed_ms, 3'600'000u);
  EXPECT_EQ(c.cost, 500000 + 10000 + 40000);
  EXPECT_EQ(c.fee, 82500);
  EXPECT_EQ(c.earnings, c.cost - c.fee);
  // A slice of a quarter of the GPU's memory pays a quarter of the GPU-hour.
  s.whole_gpu = false;
  s.vram = 4ull << 30;
  s.gpu_lent = 16ull << 30;
  EXPECT_EQ(charge(r, s).cost, 125000 + 10000 + 40000);
  // Billing busy time: half an hour of device time.
  r.bill_busy = true;
  EXPECT_EQ(charge(r, s).billed_ms, 1'800'000u);
  EXPECT_EQ(charge(r, s).cost, 62500 + 10000 + 40000);
  // Rounding: the fee rounds half up and the split still adds up.
  r = RateCard{};
  r.gpu_hour = 1;
  r.fee_ppm = 500000;
  s = SessionFacts{};
  s.whole_gpu = true;
  s.usage.wall_ms = 3'600'000 * 3;
  c = charge(r, s);
  EXPECT_EQ(c.cost, 3);
  EXPECT_EQ(c.fee, 2);
  EXPECT_EQ(c.earnings, 1);
}

TEST(Billing, ALostProvidersSessionIsBilledToItsLastSighting) {
  RateCard r;
  r.gpu_hour = 3'600'000;  // 1 micro-unit per ms
  SessionFacts s;
  s.whole_gpu = true;
  s.usage.wall_ms = 30'000;  // the last receipt, 30 s in
  s.receipts = 2;
  s.started = 1000;
  s.ended = 1100;  // seen running until 100 s in
  EXPECT_EQ(charge(r, s).cost, 30'000);
  s.provider_lost = true;
  EXPECT_EQ(charge(r, s).billed_ms, 100'000u);
  EXPECT_EQ(charge(r, s).cost, 100'000);
}

TEST(Billing, NoReceiptsBillStartToEndAndNoInputWrapsTheCost) {
  RateCard r;
  r.gpu_hour = 3'600'000;
  SessionFacts s;
  s.whole_gpu = true;
  s.started = 1000;
  s.ended = 1042;  // a server that sends no receipts (control plane 1)
  EXPECT_EQ(charge(r, s).billed_ms, 42'000u);
  // Absurd totals saturate: the cost stays positive and the split adds up.
  r.gpu_hour = 1'000'000'000'000'000'000;
  r.gib_hour = r.gpu_hour;
  r.gb_moved = r.gpu_hour;
  r.fee_ppm = 999'999;
  s.receipts = 1;
  s.usage.wall_ms = UINT64_MAX;
  s.usage.mem_gb_s = 1e300;
  s.usage.bytes_in = s.usage.bytes_out = UINT64_MAX;
  Charge c = charge(r, s);
  EXPECT_EQ(c.cost, kMaxCost);
  EXPECT_EQ(c.cost, c.fee + c.earnings);
  EXPECT_GE(c.earnings, 0);
  s.usage.mem_gb_s = std::numeric_limits<double>::infinity();
  s.usage.wall_ms = 0;
  s.usage.bytes_in = s.usage.bytes_out = 0;
  EXPECT_EQ(charge(r, s).cost, 0);  // non-finite memory counts as none
}
