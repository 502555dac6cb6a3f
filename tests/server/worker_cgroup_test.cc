// tests/server/worker_cgroup_test.cc — each worker in a cgroup v2 leaf with memory.max
// (server/worker_cgroup.h). This machine's cgroup v2 has no memory controller, so the leaf
// logic runs against a directory whose control files the test makes by hand (what the kernel
// would make), and the real hierarchy is used for the refusals.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "server/worker/host_memory.h"
#include "server/worker_cgroup.h"
#include "tests/server/test_client.h"

namespace rgpu::server {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void put(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

class FakeCgroup : public ::testing::Test {
 protected:
  FakeCgroup() {
    char tmpl[] = "/tmp/rgpu-cgroup-XXXXXX";
    dir = ::mkdtemp(tmpl);
    put(dir + "/cgroup.controllers", "cpu io memory pids\n");
    put(dir + "/cgroup.subtree_control", "");
    put(dir + "/cgroup.procs", std::to_string(::getpid()) + "\n");
    ::mkdir((dir + "/supervisor").c_str(), 0755);
    put(dir + "/supervisor/cgroup.procs", "");
  }
  ~FakeCgroup() override { std::system(("rm -rf " + dir).c_str()); }
  void make_leaf(uint64_t session) {
    const std::string leaf = dir + "/worker-" + std::to_string(session);
    ::mkdir(leaf.c_str(), 0755);
    for (const char* f : {"/memory.max", "/cgroup.procs", "/memory.events"}) put(leaf + f, "");
  }
  std::string dir;
};

TEST_F(FakeCgroup, SupervisorMovesToALeafAndWorkersGetMemoryMax) {
  std::string err;
  auto cg = WorkerCgroups::open(dir, &err, /*require_cgroupfs=*/false);
  ASSERT_TRUE(cg) << err;
  ASSERT_TRUE(cg->enabled());
  // Processes may live only in leaves once +memory is enabled below the cgroup.
  EXPECT_EQ(slurp(dir + "/supervisor/cgroup.procs"), std::to_string(::getpid()));
  EXPECT_EQ(slurp(dir + "/cgroup.subtree_control"), "+memory");

  make_leaf(7);
  const uint64_t allowance = 256ull << 20;
  std::string leaf = cg->prepare(7, allowance, &err);
  ASSERT_EQ(leaf, dir + "/worker-7") << err;
  const uint64_t max = std::stoull(slurp(leaf + "/memory.max"));
  EXPECT_GT(max, allowance);  // above RLIMIT_DATA, whose error is the clearer one
  EXPECT_LE(max, allowance + allowance / 8 + (64ull << 20));
  ASSERT_TRUE(cg->place(4242, leaf, &err)) << err;
  EXPECT_EQ(slurp(leaf + "/cgroup.procs"), "4242");

  // The worker raises its own memory.max once the lease says how large the session is.
  set_host_memory_cgroup(leaf);
  EXPECT_EQ(limit_host_memory(1ull << 30), "");
  EXPECT_EQ(std::stoull(slurp(leaf + "/memory.max")), cgroup_memory_max(1ull << 30));
  set_host_memory_cgroup("");

  // The kernel's oom_kill count tells the supervisor why a worker died.
  EXPECT_FALSE(cg->finish(leaf));
  make_leaf(8);
  leaf = cg->prepare(8, allowance, &err);
  put(leaf + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  EXPECT_TRUE(cg->finish(leaf));
}

TEST_F(FakeCgroup, ANamedCgroupWithoutTheMemoryControllerIsRefused) {
  put(dir + "/cgroup.controllers", "cpu io pids\n");
  std::string err;
  EXPECT_FALSE(WorkerCgroups::open(dir, &err, false));
  EXPECT_NE(err.find("memory controller is not delegated"), std::string::npos) << err;
  EXPECT_NE(err.find("Delegate=memory"), std::string::npos) << err;
}

TEST(WorkerCgroup, APlainDirectoryIsNotACgroup) {
  std::string err;
  EXPECT_FALSE(WorkerCgroups::open("/tmp", &err));
  EXPECT_NE(err.find("/tmp is not a cgroup v2 directory"), std::string::npos) << err;
  auto off = WorkerCgroups::open("", &err);
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->enabled());
}

TEST(WorkerCgroup, TheServerRefusesAnUnusableCgroupAndFallsBackFromAuto) {
  {
    test::ServerProcess s({"--worker-cgroup", "/tmp"});
    EXPECT_FALSE(s.started());
    EXPECT_NE(s.log().find("--worker-cgroup /tmp: /tmp is not a cgroup v2 directory"),
              std::string::npos)
        << s.log();
  }
  test::ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  // Here (no delegated memory controller) auto says why it uses RLIMIT_DATA alone.
  const std::string log = s.log();
  EXPECT_TRUE(log.find("worker host memory: RLIMIT_DATA alone (no cgroup v2 memory.max: ") !=
                  std::string::npos ||
              log.find("worker host memory: RLIMIT_DATA and cgroup v2 memory.max") !=
                  std::string::npos)
      << log;
}

}  // namespace
}  // namespace rgpu::server
