// tests/server/hardening_test.cc — what a stranger who can reach rgpu-server's port can and
// cannot do before authenticating (docs/security.md), against a real server process: silent,
// dripping and flooding connections never hold the accept loop or cost a worker, caps and the
// Hello deadline bound them, join floods do not touch a live session, any stop signal ends a
// worker whatever its lanes wait for, a readiness probe starts nothing, secrets stay out of argv.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <regex>
#include <thread>

#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/version.h"
#include "server/worker/gate.h"
#include "server/worker/host_memory.h"
#include "tests/server/test_client.h"

namespace rgpu::test {
namespace {

using Clock = std::chrono::steady_clock;

// A TCP connection to the server from a chosen loopback source address (127.0.0.0/8 is all
// loopback): attackers and well-behaved clients come from different addresses, as they would.
int raw_connect(uint16_t port, const char* source = "127.0.0.1") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &src.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::unique_ptr<TestClient> client_from(uint16_t port, const char* source) {
  int fd = raw_connect(port, source);
  if (fd < 0) return nullptr;
  return std::make_unique<TestClient>(net::adopt(fd));
}

std::vector<uint8_t> hello_bytes(uint64_t join_session, const std::string& join_key,
                                 uint64_t promised_payload = 0) {
  capnp::MallocMessageBuilder mb;
  auto h = mb.initRoot<wire::Hello>();
  h.setProtocolVersion(kProtocolVersion);
  h.setMinProtocolVersion(kMinProtocolVersion);
  h.setClientName("attacker");
  h.setJoinSession(join_session);
  h.setJoinKey(
      capnp::Data::Reader(reinterpret_cast<const uint8_t*>(join_key.data()), join_key.size()));
  std::vector<uint8_t> out = encode_frame(FrameKind::kHello, mb);
  if (promised_payload) {
    FrameHeader fh;
    std::memcpy(&fh, out.data(), sizeof fh);
    fh.payload_len = promised_payload;
    std::memcpy(out.data(), &fh, sizeof fh);
  }
  return out;
}

void send_all(int fd, const void* p, size_t n) {
  ASSERT_EQ(::send(fd, p, n, MSG_NOSIGNAL), static_cast<ssize_t>(n));
}

// True when the server closed fd within timeout_ms (EOF or reset), reading whatever it sent.
bool closed_within(int fd, int timeout_ms) {
  auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count());
    if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
  return false;
}

// Worker pids the server logged ("session N from ...: worker PID"), in order.
std::vector<pid_t> workers_in(const std::string& log) {
  std::vector<pid_t> out;
  std::regex re("session [0-9]+ from [^ ]+: worker ([0-9]+)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back(std::stoi((*it)[1]));
  return out;
}

bool process_alive(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(st, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

bool gone_within(pid_t pid, int timeout_ms) {
  auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < end) {
    if (!process_alive(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !process_alive(pid);
}

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// A good client from its own address: hello, an allocation, a copy there and back.
void good_client_works(uint16_t port, const char* source = "127.0.0.2") {
  auto c = client_from(port, source);
  ASSERT_TRUE(c);
  auto h = c->hello();
  ASSERT_TRUE(h.ok) << h.error;
  uint32_t st = 0;
  uint64_t p = c->alloc(4096, &st);
  ASSERT_EQ(st, 0u);
  std::vector<uint8_t> data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  ASSERT_EQ(c->call<op::MemcpyHtoD>({p, 4096, 0, 0}, data.data(), data.size()).status, 0u);
  auto back = c->call<op::MemcpyDtoH>({p, 4096, 0, 0});
  ASSERT_EQ(back.status, 0u) << back.error;
  EXPECT_EQ(back.payload, data);
  c->goodbye();
}

TEST(Hardening, SilentAndDrippingConnectionsNeverDelayAGoodClient) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(raw_connect(s.port(), "127.0.0.9"));
  auto partial = hello_bytes(0, "");
  for (int i = 0; i < 20; ++i) {
    int fd = raw_connect(s.port(), "127.0.0.9");
    send_all(fd, partial.data(), 10);  // part of a header, then nothing
    idle.push_back(fd);
  }
  // Before: the accept loop waited up to 1 s on each silent connection (40 s here).
  auto t0 = Clock::now();
  good_client_works(s.port());
  EXPECT_LT(ms_since(t0), 3000) << s.log();
  // None of them cost a process: only the good client got a worker.
  EXPECT_EQ(workers_in(s.log()).size(), 1u) << s.log();
  for (int fd : idle) ::close(fd);
}

TEST(Hardening, HelloDeadlineClosesStalledConnections) {
  ServerProcess s({"--hello-timeout", "1"});
  ASSERT_TRUE(s.started()) << s.log();
  int silent = raw_connect(s.port());
  int drip = raw_connect(s.port());
  auto partial = hello_bytes(0, "");
  auto t0 = Clock::now();
  // One byte every 200 ms: each arrives well within any per-read timeout, the whole never does.
  std::thread dripper([&] {
    for (size_t i = 0; i < 10 && i < partial.size(); ++i) {
      if (::send(drip, partial.data() + i, 1, MSG_NOSIGNAL) != 1) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  EXPECT_TRUE(closed_within(silent, 4000));
  EXPECT_TRUE(closed_within(drip, 4000));
  EXPECT_LT(ms_since(t0), 4000);
  dripper.join();
  EXPECT_TRUE(s.wait_log("no complete Hello within")) << s.log();
  EXPECT_TRUE(workers_in(s.log()).empty()) << s.log();
  ::close(silent);
  ::close(drip);
  good_client_works(s.port());
}

TEST(Hardening, CapsBoundUnauthenticatedConnections) {
  ServerProcess s({"--max-unauthenticated", "12", "--max-unauthenticated-per-source", "8",
                   "--hello-timeout", "2"});
  ASSERT_TRUE(s.started()) << s.log();
  std::vector<int> held;
  for (int i = 0; i < 8; ++i) held.push_back(raw_connect(s.port(), "127.0.0.7"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all admitted
  int over_source = raw_connect(s.port(), "127.0.0.7");
  EXPECT_TRUE(closed_within(over_source, 1000)) << "the 9th from one address must be refused";
  for (int i = 0; i < 4; ++i) held.push_back(raw_connect(s.port(), "127.0.0.8"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int over_total = raw_connect(s.port(), "127.0.0.6");
  EXPECT_TRUE(closed_within(over_total, 1000)) << "the 13th in all must be refused";
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(closed_within(held[i], 100)) << "admitted ones stay";
  EXPECT_TRUE(s.wait_log("refusing connections")) << s.log();
  ::close(over_source);
  ::close(over_total);
  // Once they time out, room is made again.
  for (int fd : held) EXPECT_TRUE(closed_within(fd, 5000));
  for (int fd : held) ::close(fd);
  good_client_works(s.port());
}

TEST(Hardening, JoinFloodAgainstALiveSessionTouchesNobody) {
  ServerProcess s({"--hello-timeout", "3"});
  ASSERT_TRUE(s.started()) << s.log();
  auto victim = client_from(s.port(), "127.0.0.2");
  auto vh = victim->hello();
  ASSERT_TRUE(vh.ok) << vh.error;
  uint64_t buf = victim->alloc(4096);
  ASSERT_NE(buf, 0u);
  std::vector<pid_t> w = workers_in(s.log());
  ASSERT_EQ(w.size(), 1u) << s.log();
  const pid_t victim_worker = w[0];

  // 400 joins naming the victim's session: wrong keys, some promising a payload they never
  // send, some silent after their Hello. Before: the supervisor blocked handing them over.
  std::vector<int> flood;
  const std::string wrong(16, 'x');
  for (int i = 0; i < 400; ++i) {
    char src[32];
    std::snprintf(src, sizeof src, "127.0.1.%d", 1 + i % 100);
    int fd = raw_connect(s.port(), src);
    if (fd < 0) continue;
    auto h = hello_bytes(vh.session_id, wrong, i % 3 == 0 ? (1u << 20) : 0);
    ::send(fd, h.data(), h.size(), MSG_NOSIGNAL);
    flood.push_back(fd);
  }
  auto t0 = Clock::now();
  good_client_works(s.port(), "127.0.0.3");
  EXPECT_LT(ms_since(t0), 5000) << s.log();
  // The victim's session is untouched and its end ends its worker at once, whatever the
  // joins are still doing.
  EXPECT_EQ(victim->call<op::MemFree>({buf}).status, 0u);
  victim->goodbye();
  EXPECT_TRUE(gone_within(victim_worker, 3000)) << s.log();
  for (int fd : flood) ::close(fd);
  EXPECT_TRUE(s.alive());
}

// A first Request numbered 5 waits for frames 1-4 forever; every way of stopping its worker
// must still end it within a few seconds.
class StopSignal : public ::testing::TestWithParam<int> {};

TEST_P(StopSignal, EndsAWorkerWhoseLaneWaitsInTheGate) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = client_from(s.port(), "127.0.0.2");
  ASSERT_TRUE(c->hello().ok);
  {
    capnp::MallocMessageBuilder msg;
    auto req = msg.initRoot<wire::Request>();
    req.setOp(static_cast<uint16_t>(Op::CtxSynchronize));
    uint64_t arg = 0;
    req.setArgs(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(&arg), sizeof arg));
    req.setSeq(5);
    write_frame(c->stream(), FrameKind::kRequest, msg);
  }
  std::vector<pid_t> w = workers_in(s.log());
  ASSERT_EQ(w.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(process_alive(w[0]));
  const int sig = GetParam();
  auto t0 = Clock::now();
  if (sig == SIGKILL) {
    ASSERT_EQ(::kill(s.pid(), SIGKILL), 0);  // the supervisor dies: its workers follow
  } else {
    ASSERT_EQ(::kill(w[0], sig), 0);
  }
  EXPECT_TRUE(gone_within(w[0], 7000)) << s.log();
  EXPECT_LT(ms_since(t0), 7000);
}

INSTANTIATE_TEST_SUITE_P(Hardening, StopSignal, ::testing::Values(SIGUSR1, SIGTERM, SIGKILL),
                         [](const ::testing::TestParamInfo<int>& i) {
                           return std::string(i.param == SIGUSR1   ? "PoolKill"
                                              : i.param == SIGTERM ? "Sigterm"
                                                                   : "SupervisorKilled");
                         });

// Resident memory of a process, in bytes (VmRSS).
uint64_t rss_of(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(st, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

// Before: a MemcpyHtoD whose frame promised 1 GiB made the worker zero-fill 1 GiB before a
// byte of it arrived.
TEST(Hardening, APromisedPayloadCostsOnlyWhatArrives) {
  ServerProcess s({"--vram", "2GiB"});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = client_from(s.port(), "127.0.0.2");
  ASSERT_TRUE(c->hello().ok);
  uint32_t st = 0;
  const uint64_t big = 1ull << 30;
  uint64_t p = c->alloc(big, &st);
  ASSERT_EQ(st, 0u);
  std::vector<pid_t> w = workers_in(s.log());
  ASSERT_EQ(w.size(), 1u);
  const uint64_t before = rss_of(w[0]);
  {
    capnp::MallocMessageBuilder msg;
    auto req = msg.initRoot<wire::Request>();
    req.setOp(static_cast<uint16_t>(Op::MemcpyHtoD));
    op::MemcpyHtoD::Args a{p, big, 0, 0};
    req.setArgs(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(&a), sizeof a));
    std::vector<uint8_t> head = encode_frame(FrameKind::kRequest, msg);
    FrameHeader fh;
    std::memcpy(&fh, head.data(), sizeof fh);
    fh.payload_len = big;
    std::memcpy(head.data(), &fh, sizeof fh);
    c->stream().write_all(head.data(), head.size());
    std::vector<uint8_t> some(4096, 1);
    c->stream().write_all(some.data(), some.size());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(process_alive(w[0]));
  EXPECT_LT(rss_of(w[0]), before + (64u << 20)) << "before " << before;
}

TEST(Hardening, GateGivesUpAGapNoFrameFills) {
  server::Gate g;
  auto t0 = Clock::now();
  EXPECT_FALSE(g.enter(5, std::chrono::milliseconds(100)));
  EXPECT_GE(ms_since(t0), 100);
  // In order, nothing waits.
  EXPECT_TRUE(g.enter(1, std::chrono::milliseconds(100)));
}

TEST(Hardening, ReadinessProbeIsAnsweredWithoutAWorker) {
  ServerProcess s({"--secret", "probe-test"}, false);  // no --insecure banner in the log
  ASSERT_TRUE(s.started()) << s.log();
  int fd = raw_connect(s.port());
  const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  send_all(fd, req, sizeof req - 1);
  std::string got;
  char buf[512];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("ok sessions=0"), std::string::npos) << got;
  // A bare TCP probe (connect, close) is no warning either.
  ::close(raw_connect(s.port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(workers_in(s.log()).empty()) << s.log();
  EXPECT_EQ(s.log().find("WARN"), std::string::npos) << s.log();
}

TEST(Hardening, SecretsStayOutOfWorkerArgv) {
  char dir[] = "/tmp/rgpu-secret-XXXXXX";
  ASSERT_TRUE(::mkdtemp(dir));
  const std::string path = std::string(dir) + "/secret";
  const std::string secret = "s3cr3t-value-never-in-argv";
  {
    std::ofstream f(path);
    f << secret << "\n";
  }
  ::chmod(path.c_str(), 0644);
  {
    ServerProcess loose({"--secret-file", path}, false);
    EXPECT_FALSE(loose.started());
    EXPECT_NE(loose.log().find("readable by others"), std::string::npos) << loose.log();
  }
  ::chmod(path.c_str(), 0600);
  ServerProcess s({"--secret-file", path}, false);
  ASSERT_TRUE(s.started()) << s.log();
  auto c = client_from(s.port(), "127.0.0.2");
  HelloOptions ho;
  ho.secret = secret;
  auto h = c->hello(ho);
  ASSERT_TRUE(h.ok) << h.error;
  std::vector<pid_t> w = workers_in(s.log());
  ASSERT_EQ(w.size(), 1u);
  std::ifstream cmd("/proc/" + std::to_string(w[0]) + "/cmdline");
  std::string argv((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
  EXPECT_FALSE(argv.empty());
  EXPECT_EQ(argv.find(secret), std::string::npos);
  EXPECT_EQ(argv.find(path), std::string::npos);
  c->goodbye();
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST(Hardening, ClientStringsCannotForgeLogLines) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = client_from(s.port(), "127.0.0.2");
  ASSERT_TRUE(c);
  HelloOptions ho;
  ho.client_name = "mallory\nrgpu-server[1] ERROR: disk on fire\r\x1b[2J";
  auto h = c->hello(ho);
  ASSERT_TRUE(h.ok) << h.error;
  c->goodbye();
  c.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::string log = s.log();
  // The name reached the log, escaped, on the line that quotes it; no line starts with it.
  EXPECT_NE(log.find("mallory\\x0argpu-server[1] ERROR: disk on fire\\x0d\\x1b[2J"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("\nrgpu-server[1] ERROR"), std::string::npos) << log;
  EXPECT_EQ(log.find('\x1b'), std::string::npos) << log;
}

TEST(Hardening, AWorkersHostMemoryIsCappedAndTheSessionEndsSayingSo) {
  // Limit: 64 MiB beyond the sim device's 128 MiB. The device memory itself fits; a 100 MiB
  // inline copy on top of it does not, and ends that session (not the server).
  if (!server::host_memory_limit_supported())
    GTEST_SKIP() << "AddressSanitizer's own mappings count against RLIMIT_DATA: no limit here";
  ServerProcess s({"--vram", "128MiB", "--worker-mem-allowance", "64MiB"});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = client_from(s.port(), "127.0.0.2");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->hello().ok);
  uint32_t st = 0;
  const uint64_t p = c->alloc(128ull << 20, &st);
  ASSERT_EQ(st, 0u) << s.log();
  std::vector<uint8_t> big(100ull << 20, 0x42);
  bool failed = false;
  try {
    auto r = c->call<op::MemcpyHtoD>({p, big.size(), 0, 0}, big.data(), big.size());
    failed = r.status != 0;
  } catch (const std::exception&) {
    failed = true;  // the session ended: its connection closed
  }
  EXPECT_TRUE(failed);
  EXPECT_TRUE(s.wait_log("ran out of host memory")) << s.log();
  EXPECT_EQ(s.log().find("crashed"), std::string::npos) << s.log();
  good_client_works(s.port(), "127.0.0.3");
}

}  // namespace
}  // namespace rgpu::test
