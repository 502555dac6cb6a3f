// tests/pool/lease_test.cc — lease signing and checking; replay guard.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "protocol/control/lease.h"
#include "protocol/control/replay_guard.h"
#include "protocol/control/usage_receipt.h"

using namespace rgpu::control;

namespace {

LeaseClaims sample(int64_t now) {
  LeaseClaims c;
  c.lease_id = new_lease_id();
  c.endpoint = "10.0.0.5:7000";
  c.provider_id = "p-1234";
  c.gpu_index = 2;
  c.vram_bytes = 16ull << 30;
  c.issued_unix = now;
  c.expires_unix = now + 300;
  return c;
}

}  // namespace

TEST(Lease, SignVerifyRoundTrip) {
  PoolKey k = generate_pool_key();
  ASSERT_EQ(k.public_raw.size(), 32u);
  LeaseClaims c = sample(1000);
  std::string lease = sign_lease(c, k);
  LeaseCheck r = verify_lease(lease, k.public_raw, 1001, "10.0.0.5:7000");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.claims.lease_id, c.lease_id);
  EXPECT_EQ(r.claims.endpoint, c.endpoint);
  EXPECT_EQ(r.claims.provider_id, "p-1234");
  EXPECT_EQ(r.claims.gpu_index, 2u);
  EXPECT_EQ(r.claims.vram_bytes, 16ull << 30);
  EXPECT_EQ(r.claims.expires_unix, 1300);
}

TEST(Lease, ForgedOrAlteredRefused) {
  PoolKey k = generate_pool_key();
  std::string lease = sign_lease(sample(1000), k);
  // Flip each byte in turn: every one is covered by the signature or the framing.
  for (size_t i = 0; i < lease.size(); i++) {
    std::string bad = lease;
    bad[i] ^= 0x01;
    LeaseCheck r = verify_lease(bad, k.public_raw, 1001);
    EXPECT_FALSE(r.ok) << "byte " << i;
    EXPECT_NE(r.error.find("lease refused"), std::string::npos);
  }
  // Signed by another pool.
  PoolKey other = generate_pool_key();
  LeaseCheck r = verify_lease(sign_lease(sample(1000), other), k.public_raw, 1001);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("signature"), std::string::npos);
  // Garbage and truncation never crash.
  EXPECT_FALSE(verify_lease("", k.public_raw, 1).ok);
  EXPECT_FALSE(verify_lease(std::string(200, 'x'), k.public_raw, 1).ok);
  EXPECT_FALSE(verify_lease(lease.substr(0, lease.size() - 1), k.public_raw, 1001).ok);
  EXPECT_FALSE(verify_lease(lease, "short", 1001).ok);
}

TEST(Lease, ExpiredAndWrongEndpointRefused) {
  PoolKey k = generate_pool_key();
  std::string lease = sign_lease(sample(1000), k);
  EXPECT_TRUE(verify_lease(lease, k.public_raw, 1299).ok);
  LeaseCheck r = verify_lease(lease, k.public_raw, 1300);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("expired"), std::string::npos);
  r = verify_lease(lease, k.public_raw, 1001, "10.0.0.6:7000");
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("issued for server 10.0.0.5:7000"), std::string::npos);
}

TEST(Lease, TextFormsAndKeys) {
  PoolKey k = generate_pool_key();
  std::string lease = sign_lease(sample(1000), k);
  std::string text = lease_to_text(lease), back;
  EXPECT_EQ(text.find_first_of("+/=,"), std::string::npos);
  ASSERT_TRUE(lease_from_text(text, &back));
  EXPECT_EQ(back, lease);
  ASSERT_TRUE(lease_from_text(to_hex(lease), &back));
  EXPECT_EQ(back, lease);
  EXPECT_FALSE(lease_from_text("!!!", &back));

  std::string raw, err;
  ASSERT_TRUE(parse_public_key(public_key_pem(k.public_raw), &raw, &err)) << err;
  EXPECT_EQ(raw, k.public_raw);
  ASSERT_TRUE(parse_public_key(to_hex(k.public_raw), &raw, &err));
  EXPECT_EQ(raw, k.public_raw);
  EXPECT_FALSE(parse_public_key("nonsense", &raw, &err));
  PoolKey loaded;
  ASSERT_TRUE(load_private_key(k.private_pem, &loaded, &err)) << err;
  EXPECT_EQ(loaded.public_raw, k.public_raw);
  EXPECT_FALSE(load_private_key("not a key", &loaded, &err));
}

TEST(ReplayGuard, SecondUseRefused) {
  LeaseReplayGuard g;
  EXPECT_TRUE(g.claim("a", 2000, 1000));
  EXPECT_FALSE(g.claim("a", 2000, 1001));
  EXPECT_TRUE(g.claim("b", 2000, 1001));
  EXPECT_TRUE(g.seen("a"));
  // After expiry (and a prune) the id is forgotten; verify_lease refuses such a lease anyway.
  EXPECT_TRUE(g.claim("c", 5000, 2100));
  EXPECT_FALSE(g.seen("a"));
  EXPECT_TRUE(g.seen("c"));
}

TEST(ReplayGuard, StateFileSurvivesRestart) {
  char path[] = "/tmp/rgpu-replay-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    LeaseReplayGuard g(path);
    EXPECT_TRUE(g.claim("x", 9000, 1000));
  }
  LeaseReplayGuard g2(path);
  EXPECT_FALSE(g2.claim("x", 9000, 1001));
  unlink(path);
}

// The worker's receipt line round-trips every total and refuses anything malformed.
TEST(UsageReceipt, LineRoundTripsAndRefusesMalformed) {
  rgpu::control::UsageReceipt r;
  r.seq = 3, r.final = true, r.wall_ms = 123456, r.busy_ns = 987654321, r.mem_gb_s = 12.5;
  r.mem_peak = 1ull << 33, r.bytes_in = 1ull << 40, r.bytes_out = 77, r.calls = 4242;
  rgpu::control::UsageReceipt back;
  ASSERT_TRUE(rgpu::control::parse_receipt_line(rgpu::control::receipt_line(r), &back));
  EXPECT_EQ(back.seq, 3u);
  EXPECT_TRUE(back.final);
  EXPECT_EQ(back.wall_ms, 123456u);
  EXPECT_EQ(back.busy_ns, 987654321u);
  EXPECT_DOUBLE_EQ(back.mem_gb_s, 12.5);
  EXPECT_EQ(back.mem_peak, 1ull << 33);
  EXPECT_EQ(back.bytes_in, 1ull << 40);
  EXPECT_EQ(back.bytes_out, 77u);
  EXPECT_EQ(back.calls, 4242u);
  for (const char* bad :
       {"", "U", "U 1 0 1 1 1 1 1 1", "U 1 2 1 1 1 1 1 1 1", "U 1 0 1 1 -1 1 1 1 1",
        "U 1 0 1 1 nan 1 1 1 1", "U 1 0 1 1 1 1 1 1 1 x", "E 1 0 1 1 1 1 1 1 1"})
    EXPECT_FALSE(rgpu::control::parse_receipt_line(bad, &back)) << bad;
}
