// tests/server/load_test.cc — 50 concurrent sessions of 1,000 mixed calls each against one
// rgpu-server while an attacker floods it from other addresses (silent connections, dripping
// and garbage Hellos, wrong-key joins naming live sessions, reconnecting as it is closed).
// Every well-behaved session must finish with exact results, and the server's meter must count
// exactly the calls each made: nothing lost, nothing doubled.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <regex>
#include <thread>

#include "protocol/data_plane.capnp.h"
#include "protocol/frame.h"
#include "protocol/version.h"
#include "tests/server/test_client.h"

namespace rgpu::test {
namespace {

constexpr int kSessions = 50;
constexpr int kCallsPerSession = 1000;

int connect_from(uint16_t port, const char* source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::vector<uint8_t> join_hello(uint64_t session) {
  capnp::MallocMessageBuilder mb;
  auto h = mb.initRoot<wire::Hello>();
  h.setProtocolVersion(kProtocolVersion);
  h.setMinProtocolVersion(kMinProtocolVersion);
  h.setClientName("flood");
  h.setJoinSession(session);
  const std::string key(16, 'k');
  h.setJoinKey(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(key.data()), key.size()));
  return encode_frame(FrameKind::kHello, mb);
}

// What one session did, as the server's meter should count it.
struct Tally {
  uint64_t session_id = 0;
  int sync = 0, async = 0;
  std::string failure;
};

// 1,000 calls: allocations, copies both ways with their bytes checked, memsets, device-to-device
// copies, streams, MemGetInfo and frees, sync and async mixed.
void run_session(uint16_t port, int index, Tally* t) {
  char src[32];
  std::snprintf(src, sizeof src, "127.0.3.%d", 1 + index);
  int fd = connect_from(port, src);
  if (fd < 0) {
    t->failure = "cannot connect";
    return;
  }
  try {
    TestClient c(net::adopt(fd));
    HelloOptions ho;
    ho.client_name = "load-" + std::to_string(index);
    HelloResult h = c.hello(ho);
    if (!h.ok) {
      t->failure = "hello: " + h.error;
      return;
    }
    t->session_id = h.session_id;
    auto fail = [&](const std::string& what) {
      if (t->failure.empty()) t->failure = what;
    };
    std::vector<uint8_t> data(4096);
    const uint64_t stream = 1000 + index;
    c.enqueue<op::StreamCreate>({stream, 0, 0});
    t->async++;
    int calls = 1;
    for (int round = 0; calls < kCallsPerSession - 1 && t->failure.empty(); ++round) {
      const uint64_t n = 512 + (round * 97 + index * 31) % 3584;
      uint32_t st = 0;
      const uint64_t a = c.alloc(n, &st);
      const uint64_t b = c.alloc(n, &st);
      t->sync += 2;
      if (st != 0 || a == 0 || b == 0) fail("alloc failed");
      for (uint64_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(i * 13 + round + index);
      c.enqueue<op::MemcpyHtoD>({a, n, round % 2 ? stream : 0, 0}, data.data(), n);
      c.enqueue<op::MemcpyDtoD>({b, a, n, round % 2 ? stream : 0});
      c.enqueue<op::Memset>({a, n / 2, static_cast<uint32_t>(round & 0xff), 1, 0});
      t->async += 3;
      if (c.call<op::StreamSynchronize>({stream}).status != 0) fail("stream sync failed");
      auto back_b = c.call<op::MemcpyDtoH>({b, n, 0, 0});
      auto back_a = c.call<op::MemcpyDtoH>({a, n, 0, 0});
      auto info = c.call<op::MemGetInfo>({0});
      t->sync += 4;
      if (back_b.status != 0 || back_b.payload.size() != n ||
          std::memcmp(back_b.payload.data(), data.data(), n) != 0)
        fail("device-to-device copy came back wrong in round " + std::to_string(round));
      for (uint64_t i = 0; i < n && back_a.status == 0 && back_a.payload.size() == n; ++i) {
        const uint8_t want = i < n / 2 ? static_cast<uint8_t>(round & 0xff) : data[i];
        if (back_a.payload[i] != want) {
          fail("memset/copy came back wrong in round " + std::to_string(round));
          break;
        }
      }
      if (info.status != 0) fail("MemGetInfo failed");
      if (c.call<op::MemFree>({a}).status != 0 || c.call<op::MemFree>({b}).status != 0)
        fail("free failed");
      t->sync += 2;
      calls += 11;
    }
    c.enqueue<op::StreamDestroy>({stream});
    t->async++;
    if (c.call<op::CtxSynchronize>({0}).status != 0) fail("final sync failed");
    t->sync++;
    c.goodbye();
  } catch (const std::exception& e) {
    t->failure = std::string("connection: ") + e.what();
  }
}

// Until `stop`: silent connections, a Hello dripped a byte at a time, garbage, and joins with
// wrong keys naming sessions 1..60 (the live ones among them), each from its own address and
// reconnected as the server closes them.
void flood(uint16_t port, const std::atomic<bool>* stop, std::atomic<int>* made) {
  std::vector<int> open;
  std::vector<std::pair<int, std::vector<uint8_t>>> drips;
  int i = 0;
  while (!stop->load()) {
    char src[32];
    std::snprintf(src, sizeof src, "127.0.4.%d", 1 + i % 200);
    int fd = connect_from(port, src);
    if (fd >= 0) {
      made->fetch_add(1);
      switch (i % 4) {
        case 0:  // silent
          break;
        case 1: {  // wrong-key join naming a (possibly live) session
          auto h = join_hello(1 + i % 60);
          ::send(fd, h.data(), h.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          break;
        }
        case 2: {  // garbage that looks like nothing
          uint8_t junk[64];
          for (size_t k = 0; k < sizeof junk; ++k) junk[k] = static_cast<uint8_t>(i * 7 + k * 31);
          ::send(fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
          break;
        }
        default:  // a join Hello dripped a byte per round
          drips.push_back({fd, join_hello(1 + i % 60)});
          break;
      }
      open.push_back(fd);
    }
    for (auto& [dfd, bytes] : drips) {
      if (bytes.empty()) continue;
      ::send(dfd, bytes.data(), 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      bytes.erase(bytes.begin());
    }
    if (open.size() > 300) {  // keep ~300 open; the oldest go (the server closed most already)
      for (size_t k = 0; k < 100; ++k) ::close(open[k]);
      open.erase(open.begin(), open.begin() + 100);
      drips.erase(std::remove_if(drips.begin(), drips.end(),
                                 [&](const auto& d) {
                                   return std::find(open.begin(), open.end(), d.first) ==
                                          open.end();
                                 }),
                  drips.end());
    }
    ++i;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (int fd : open) ::close(fd);
}

TEST(Load, FiftySessionsOfAThousandMixedCallsWhileAnAttackerFloods) {
  ServerProcess s({"--hello-timeout", "2", "--vram", "64MiB"});
  ASSERT_TRUE(s.started()) << s.log();
  std::atomic<bool> stop{false};
  std::atomic<int> attacks{0};
  std::thread attacker(flood, s.port(), &stop, &attacks);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the flood is under way

  std::vector<Tally> tallies(kSessions);
  std::vector<std::thread> clients;
  for (int i = 0; i < kSessions; ++i) clients.emplace_back(run_session, s.port(), i, &tallies[i]);
  for (auto& t : clients) t.join();
  stop = true;
  attacker.join();

  EXPECT_GT(attacks.load(), 200) << "the flood did not run";
  std::map<uint64_t, const Tally*> by_session;
  for (const Tally& t : tallies) {
    EXPECT_EQ(t.failure, "") << "session " << t.session_id;
    if (t.session_id) by_session[t.session_id] = &t;
  }
  ASSERT_EQ(by_session.size(), static_cast<size_t>(kSessions));
  // The meter counted exactly what each session did.
  for (const auto& [sid, t] : by_session) {
    const std::string needle = "session " + std::to_string(sid) + " (";
    ASSERT_TRUE(s.wait_log(needle, 20000)) << "no end logged for session " << sid;
    const std::string log = s.log();
    std::regex re("session " + std::to_string(sid) +
                  " \\([^\\n]* ended after [^\\n]*, ([0-9]+) sync \\+ ([0-9]+) async calls, 0 "
                  "errors");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(log, m, re)) << "session " << sid << " has no clean summary";
    EXPECT_EQ(std::stoi(m[1]), t->sync) << "session " << sid;
    EXPECT_EQ(std::stoi(m[2]), t->async) << "session " << sid;
    EXPECT_GE(t->sync + t->async, kCallsPerSession);
  }
  EXPECT_TRUE(s.alive());
  EXPECT_EQ(s.log().find("crashed"), std::string::npos);
}

}  // namespace
}  // namespace rgpu::test
