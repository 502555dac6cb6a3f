// tests/server/compute_share_test.cc — compute shares (server/worker/compute_share.h): the
// policy, the shared table across threads and processes, and the share parser.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "protocol/control/compute_share.h"
#include "server/worker/compute_share.h"

using namespace rgpu::server;

namespace {

ShareView busy(uint32_t share, double vtime, bool waiting = true) {
  ShareView v;
  v.used = true;
  v.share_milli = share;
  v.contending = waiting;
  v.active = true;
  v.vtime = vtime;
  return v;
}

}  // namespace

TEST(ComputeSharePolicy, StatedSharesWeighAndTheRestSplitWhatIsLeft) {
  std::vector<ShareView> v = {busy(250, 0), busy(0, 0), busy(0, 0), ShareView{}};
  auto w = share_weights(v);
  EXPECT_DOUBLE_EQ(w[0], 0.25);
  EXPECT_DOUBLE_EQ(w[1], 0.375);
  EXPECT_DOUBLE_EQ(w[2], 0.375);
  EXPECT_DOUBLE_EQ(w[3], 0);
  v = {busy(1000, 0), busy(0, 0)};  // nothing left: an unstated share still weighs something
  EXPECT_DOUBLE_EQ(share_weights(v)[1], kMinWeight);
}

TEST(ComputeSharePolicy, TheSessionFurthestBehindGoesFirstAndAloneNobodyWaits) {
  // A slice (2 ms of device time) is 8 ms of virtual time at 0.25, 2.67 ms at 0.75. A has had
  // 3 ms (12 ms virtual), B 2 ms (2.67 ms virtual).
  std::vector<ShareView> v = {busy(250, 12e6), busy(750, 2.67e6)};
  EXPECT_FALSE(share_may_start(v, 0));  // behind B by more than a slice of its own
  EXPECT_TRUE(share_may_start(v, 1));
  v[1].contending = false;  // B asks for nothing: A goes (work-conserving)
  EXPECT_TRUE(share_may_start(v, 0));
  std::vector<ShareView> alone = {busy(100, 1e12)};
  EXPECT_TRUE(share_may_start(alone, 0));
  // Within one slice ahead is allowed, so turns are not one kernel each.
  v = {busy(500, 3e6), busy(500, 0)};
  EXPECT_TRUE(share_may_start(v, 0));  // 3 ms ahead in virtual time = 1.5 ms of device time
  v[0].vtime = 5e6;
  EXPECT_FALSE(share_may_start(v, 0));
}

TEST(ComputeSharePolicy, IdlingOrLightUseBanksAtMostTwoSlices) {
  // At 0.5 a slice (2 ms of device time) is 4 ms of virtual time.
  std::vector<ShareView> v = {busy(500, 1e6, false), busy(500, 9e9), busy(500, 7e9)};
  v[0].active = false;
  EXPECT_DOUBLE_EQ(share_reentry_vtime(v, 0), 7e9 - 8e6);  // two slices below the lowest active
  v[0].vtime = 8e9;
  EXPECT_DOUBLE_EQ(share_reentry_vtime(v, 0), 8e9);  // never moved back
  std::vector<ShareView> alone = {busy(500, 5, false)};
  EXPECT_DOUBLE_EQ(share_reentry_vtime(alone, 0), 5);
  // A light session (never idle long, never contending when it asks) that turns greedy: it asks
  // two slices behind the greedy rival, so it goes first, and the rival waits about a slice for
  // it, not the credit of its whole light past.
  std::vector<ShareView> w = {busy(500, 1e6, false), busy(500, 600e9)};
  w[0].vtime = share_reentry_vtime(w, 0);
  w[0].contending = true;
  EXPECT_FALSE(share_may_start(w, 1));  // the light one goes first...
  w[0].vtime += 4e6 + 1;                // ...until it has had its slice
  EXPECT_TRUE(share_may_start(w, 1));
}

// Two sessions of one exclusive device, both always backlogged, each kernel 1 ms of device
// time: the kernels they get are in the ratio of their shares.
TEST(ComputeShareTable, BackloggedSessionsGetTheirSharesOfAnExclusiveDevice) {
  std::string err;
  auto table = ShareTable::create(&err);
  ASSERT_TRUE(table) << err;
  auto a = ComputeShare::join(table->fd(), 250, true, &err);
  auto b = ComputeShare::join(table->fd(), 750, true, &err);
  ASSERT_TRUE(a && b) << err;
  std::atomic<bool> stop{false};
  std::atomic<int> in_device{0}, overlap{0};
  int ran[2] = {0, 0};
  auto tenant = [&](ComputeShare* s, int* count) {
    uint64_t busy_ns = 0;
    while (!stop.load()) {
      if (!s->begin()) return;
      if (in_device.fetch_add(1) != 0) overlap++;
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      in_device.fetch_sub(1);
      busy_ns += 1'000'000;  // charged as 1 ms of device time
      s->end(busy_ns);
      ++*count;
    }
  };
  std::thread ta(tenant, a.get(), &ran[0]), tb(tenant, b.get(), &ran[1]);
  while (ran[0] + ran[1] < 800) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  ta.join();
  tb.join();
  EXPECT_EQ(overlap.load(), 0) << "an exclusive device ran two sessions at once";
  const double ratio = double(ran[1]) / ran[0];
  EXPECT_NEAR(ratio, 3.0, 0.3) << ran[0] << " vs " << ran[1];
}

// A worker that died holding the device (no end()) frees it when the supervisor reaps it.
TEST(ComputeShareTable, AWorkerThatDiedHoldingTheDeviceIsReleasedWhenReaped) {
  std::string err;
  auto table = ShareTable::create(&err);
  ASSERT_TRUE(table) << err;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string e;
    auto s = ComputeShare::join(table->fd(), 500, true, &e);
    if (!s || !s->begin()) _exit(2);
    char c = 'x';
    if (write(ready[1], &c, 1) != 1) _exit(3);
    _exit(0);  // dies holding the device
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  auto me = ComputeShare::join(table->fd(), 500, true, &err);
  ASSERT_TRUE(me) << err;
  std::atomic<bool> got{false};
  std::thread t([&] {
    got = me->begin();
    me->end(1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got.load()) << "the device was free while a (dead) session held it";
  table->release_pid(child);
  t.join();
  EXPECT_TRUE(got.load());
  close(ready[0]);
  close(ready[1]);
}

TEST(ComputeShareTable, AbortEndsAWait) {
  std::string err;
  auto table = ShareTable::create(&err);
  auto holder = ComputeShare::join(table->fd(), 500, true, &err);
  auto waiter = ComputeShare::join(table->fd(), 500, true, &err);
  ASSERT_TRUE(holder && waiter) << err;
  ASSERT_TRUE(holder->begin());
  bool got = true;
  std::thread t([&] { got = waiter->begin(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  waiter->abort();
  t.join();           // returns although the device is still held...
  EXPECT_FALSE(got);  // ...and takes nothing
  auto third = ComputeShare::join(table->fd(), 500, true, &err);
  ASSERT_TRUE(third) << err;
  std::atomic<bool> third_got{false};
  std::thread t3([&] {
    third_got = third->begin();
    third->end(2);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(third_got.load()) << "the aborted waiter freed a device it never held";
  holder->end(1);
  t3.join();
  EXPECT_TRUE(third_got.load());
}

// A worker SIGKILLed while it waits for a turn wedges nobody: the holder's end() and the
// supervisor's release return, and the next session gets the device.
TEST(ComputeShareTable, AWorkerKilledWhileWaitingWedgesNobody) {
  std::string err;
  auto table = ShareTable::create(&err);
  ASSERT_TRUE(table) << err;
  auto holder = ComputeShare::join(table->fd(), 500, true, &err);
  ASSERT_TRUE(holder) << err;
  ASSERT_TRUE(holder->begin());
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string e;
    auto s = ComputeShare::join(table->fd(), 500, true, &e);
    char c = 'x';
    if (!s || write(ready[1], &c, 1) != 1) _exit(2);
    s->begin();  // waits: the parent holds the device
    _exit(3);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the child is in its wait
  kill(child, SIGKILL);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  alarm(20);  // a wedged end() or release fails the test instead of hanging it
  holder->end(1);
  table->release_pid(child);
  auto next = ComputeShare::join(table->fd(), 500, true, &err);
  ASSERT_TRUE(next) << err;
  EXPECT_TRUE(next->begin());
  next->end(1);
  alarm(0);
  close(ready[0]);
  close(ready[1]);
}

TEST(ComputeShareTable, AnFdThatIsNotATableIsRefused) {
  std::string err;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_FALSE(ComputeShare::join(p[0], 0, true, &err));
  EXPECT_NE(err.find("not a compute-share table"), std::string::npos) << err;
  close(p[0]);
  close(p[1]);
}

TEST(ComputeShareText, ParsesSharesAndRefusesWhatIsNotOne) {
  using rgpu::control::compute_share_text;
  using rgpu::control::parse_compute_share;
  uint32_t m = 0;
  EXPECT_TRUE(parse_compute_share("0.5", &m));
  EXPECT_EQ(m, 500u);
  EXPECT_TRUE(parse_compute_share(".25", &m));
  EXPECT_EQ(m, 250u);
  EXPECT_TRUE(parse_compute_share("1", &m));
  EXPECT_EQ(m, 1000u);
  EXPECT_TRUE(parse_compute_share("12.5%", &m));
  EXPECT_EQ(m, 125u);
  EXPECT_TRUE(parse_compute_share("100%", &m));
  EXPECT_EQ(m, 1000u);
  for (const char* bad :
       {"", "0", "0.0", "1.001", "2", "-0.5", "0.0005", "12.55%", "abc", ".", "0.5x", "101%"})
    EXPECT_FALSE(parse_compute_share(bad, &m)) << bad;
  EXPECT_EQ(compute_share_text(500), "0.5");
  EXPECT_EQ(compute_share_text(1000), "1");
  EXPECT_EQ(compute_share_text(125), "0.125");
}
