// tests/server/server_process_test.cc — a real rgpu-server process driven over the data plane.
#include <cuda.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstring>
#include <regex>
#include <thread>

#include "protocol/data_plane.capnp.h"
#include "protocol/device_props.h"
#include "protocol/frame.h"
#include "protocol/image/param_layout.h"
#include "protocol/version.h"
#include "tests/server/test_client.h"

namespace rgpu::test {
namespace {

std::vector<std::string> plugin_args() {
  return {"--sim-plugin", RGPU_TEST_PLUGIN};
}

// Loads the test cubin as module 1 and gets `name` as function `fn`.
void load_kernel(TestClient& c, uint64_t fn, const char* name) {
  auto img = read_file(RGPU_TEST_CUBIN);
  ASSERT_FALSE(img.empty());
  op::ModuleLoad::Args m{1, 0};
  auto r = c.call<op::ModuleLoad>(m, img.data(), img.size());
  ASSERT_TRUE(r.status == CUDA_SUCCESS || r.status == CUDA_ERROR_INVALID_VALUE) << r.error;
  auto f = c.call<op::ModuleGetFunction>({1, fn}, name, std::strlen(name) + 1);
  ASSERT_EQ(f.status, CUDA_SUCCESS) << f.error;
}

// Loads vec_add, runs it through a batch (HtoD, HtoD, launch), syncs, reads back, frees.
void run_vec_add(TestClient* c, uint64_t va_base) {
  load_kernel(*c, 10, "vec_add");
  const int n = 100000;
  std::vector<float> a(n), b(n);
  for (int i = 0; i < n; ++i) a[i] = 0.5f * i, b[i] = 3.0f;
  uint32_t st = 0;
  uint64_t da = c->alloc(n * 4, &st), db = c->alloc(n * 4), dc = c->alloc(n * 4);
  ASSERT_EQ(st, CUDA_SUCCESS);
  ASSERT_GE(da, va_base);
  c->enqueue<op::MemcpyHtoD>({da, n * 4, 0, 0}, a.data(), n * 4);
  c->enqueue<op::MemcpyHtoD>({db, n * 4, 0, 0}, b.data(), n * 4);
  uint8_t params[28];
  std::memcpy(params, &da, 8);
  std::memcpy(params + 8, &db, 8);
  std::memcpy(params + 16, &dc, 8);
  std::memcpy(params + 24, &n, 4);
  op::LaunchKernel::Args l{};
  l.function = 10;
  l.grid[0] = (n + 255) / 256, l.grid[1] = 1, l.grid[2] = 1;
  l.block[0] = 256, l.block[1] = 1, l.block[2] = 1;
  l.param_bytes = 28;
  c->enqueue<op::LaunchKernel>(l, params, sizeof params);
  auto sync = c->call<op::CtxSynchronize>({0});
  ASSERT_EQ(sync.status, CUDA_SUCCESS) << sync.error;
  auto r = c->call<op::MemcpyDtoH>({dc, n * 4, 0, 0});
  ASSERT_EQ(r.status, CUDA_SUCCESS) << r.error;
  ASSERT_EQ(r.payload.size(), size_t{n} * 4);
  std::vector<float> out(n);
  std::memcpy(out.data(), r.payload.data(), n * 4);
  for (int i = 0; i < n; i += 997) ASSERT_EQ(out[i], 0.5f * i + 3.0f) << i;
  for (uint64_t p : {da, db, dc}) EXPECT_EQ(c->call<op::MemFree>({p}).status, CUDA_SUCCESS);
}

TEST(ServerProcess, HelpAnswers) {
  std::string cmd = std::string(RGPU_SERVER_BIN) + " --help";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {0};
  ASSERT_NE(std::fgets(buf, sizeof buf, p), nullptr);
  const std::string first = buf;
  while (std::fgets(buf, sizeof buf, p)) {
  }  // all of it: the text is longer than one pipe write
  EXPECT_EQ(::pclose(p), 0);
  EXPECT_NE(first.find("usage: rgpu-server"), std::string::npos);
}

TEST(ServerProcess, CudaBackendFailsCleanlyWithoutADriver) {
  std::string cmd =
      std::string(RGPU_SERVER_BIN) +
      " --backend cuda --insecure --listen 127.0.0.1:0 --driver /nonexistent/libcuda.so.1 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  int st = ::pclose(p);
  EXPECT_NE(st, 0);
  EXPECT_NE(out.find("/nonexistent/libcuda.so.1"), std::string::npos) << out;
}

TEST(ServerProcess, RefusesToStartWithoutAuthentication) {
  ServerProcess s(plugin_args(), /*insecure=*/false);
  EXPECT_FALSE(s.started());
}

TEST(ServerProcess, HelloAllocCopyLaunchSyncFree) {
  ServerProcess s(plugin_args());
  ASSERT_TRUE(s.started()) << s.log();
  EXPECT_NE(s.log().find("INSECURE"), std::string::npos);
  auto c = TestClient::connect(s.port());
  HelloResult h = c->hello();
  ASSERT_TRUE(h.ok) << h.error;
  EXPECT_EQ(h.version, kProtocolVersion);
  ASSERT_EQ(h.device_props.size(), sizeof(DeviceProps));
  DeviceProps props;
  std::memcpy(&props, h.device_props.data(), sizeof props);
  EXPECT_STREQ(props.name, "rgpu sim");
  EXPECT_EQ(props.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT], 132);
  EXPECT_EQ(h.vram_limit, props.total_mem);
  EXPECT_EQ(props.va_base, 0x200000000000ull);

  run_vec_add(c.get(), props.va_base);
  c->goodbye();
  // The session's meter is logged at its end.
  EXPECT_TRUE(s.wait_log("ended after")) << s.log();
  EXPECT_NE(s.log().find("LaunchKernel=1"), std::string::npos) << s.log();
}

// Device printf text rides on the next reply for a protocol 5 client; for an older client
// (which would drop the field unread) the server logs it and says why.
TEST(ServerProcess, DevicePrintfReachesTheClientOrTheLog) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  for (uint32_t version : {kProtocolVersion, 4u}) {
    auto c = TestClient::connect(s.port());
    HelloOptions o;
    o.version = version;
    HelloResult h = c->hello(o);
    ASSERT_TRUE(h.ok) << h.error;
    ASSERT_EQ(h.version, version);
    auto img = read_file(RGPU_TEST_FATBIN);  // its compute_90 PTX is what the sim runs
    auto r = c->call<op::ModuleLoad>(op::ModuleLoad::Args{1, 0}, img.data(), img.size());
    ASSERT_EQ(r.status, CUDA_SUCCESS) << r.error;
    auto f = c->call<op::ModuleGetFunction>({1, 5}, "say", 4);
    ASSERT_EQ(f.status, CUDA_SUCCESS) << f.error;
    op::LaunchKernel::Args l{};
    l.function = 5;
    l.grid[0] = l.grid[1] = l.grid[2] = 1;
    l.block[0] = 2, l.block[1] = l.block[2] = 1;
    l.param_bytes = 4;
    const int x = 7;
    c->enqueue<op::LaunchKernel>(l, &x, sizeof x);
    auto sync = c->call<op::CtxSynchronize>({0});
    ASSERT_EQ(sync.status, CUDA_SUCCESS) << sync.error;
    if (version >= 5) {
      EXPECT_EQ(sync.device_output, "say 7 from 0\nsay 7 from 1\n");
    } else {
      EXPECT_EQ(sync.device_output, "");
      EXPECT_TRUE(s.wait_log("the client speaks protocol 4, which cannot carry it")) << s.log();
      EXPECT_NE(s.log().find("say 7 from 1"), std::string::npos) << s.log();
    }
    c->goodbye();
  }
}

// The same program on the cuda backend; runs where an NVIDIA driver and GPU are present.
TEST(ServerProcess, CudaBackendRunsVecAddOnARealGpu) {
  ServerProcess s({"--backend", "cuda", "--vram", "1GiB"});
  if (!s.started()) {
    if (s.log().find("no NVIDIA driver found") != std::string::npos)
      GTEST_SKIP() << "no NVIDIA driver on this machine";
    FAIL() << s.log();
  }
  auto c = TestClient::connect(s.port());
  HelloResult h = c->hello();
  ASSERT_TRUE(h.ok) << h.error << s.log();
  DeviceProps props;
  ASSERT_EQ(h.device_props.size(), sizeof props);
  std::memcpy(&props, h.device_props.data(), sizeof props);
  EXPECT_EQ(props.total_mem, 1ull << 30);
  EXPECT_GT(props.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT], 0);
  run_vec_add(c.get(), props.va_base);
  // Freed memory is scrubbed: a new allocation at the same place reads zeros.
  uint64_t p = c->alloc(1 << 21);
  std::vector<uint8_t> ones(1 << 21, 0xFF);
  c->enqueue<op::MemcpyHtoD>({p, ones.size(), 0, 0}, ones.data(), ones.size());
  ASSERT_EQ(c->call<op::MemFree>({p}).status, CUDA_SUCCESS);
  uint64_t q = c->alloc(1 << 21);
  ASSERT_EQ(q, p);
  auto r = c->call<op::MemcpyDtoH>({q, 1 << 21, 0, 0});
  ASSERT_EQ(r.status, CUDA_SUCCESS) << r.error;
  EXPECT_EQ(std::count(r.payload.begin(), r.payload.end(), 0), 1 << 21);
}

TEST(ServerProcess, VersionMismatchNamesBothVersions) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = TestClient::connect(s.port());
  HelloOptions o;
  o.version = 99;
  o.min_version = 98;
  HelloResult h = c->hello(o);
  EXPECT_FALSE(h.ok);
  EXPECT_NE(h.error.find("98..99"), std::string::npos) << h.error;
  EXPECT_NE(
      h.error.find(std::to_string(kMinProtocolVersion) + ".." + std::to_string(kProtocolVersion)),
      std::string::npos)
      << h.error;
  // The server keeps serving.
  auto c2 = TestClient::connect(s.port());
  EXPECT_TRUE(c2->hello().ok);
}

TEST(ServerProcess, SharedSecretIsChecked) {
  ServerProcess s({"--secret", "open sesame"}, /*insecure=*/false);
  ASSERT_TRUE(s.started()) << s.log();
  auto bad = TestClient::connect(s.port());
  HelloOptions o;
  o.secret = "wrong";
  HelloResult h = bad->hello(o);
  EXPECT_FALSE(h.ok);
  EXPECT_NE(h.error.find("secret"), std::string::npos) << h.error;
  auto good = TestClient::connect(s.port());
  o.secret = "open sesame";
  EXPECT_TRUE(good->hello(o).ok);
}

TEST(ServerProcess, ForeignHandlesAndOutOfRangeCopiesAreRefused) {
  ServerProcess s(plugin_args());
  ASSERT_TRUE(s.started()) << s.log();
  auto a = TestClient::connect(s.port());
  auto b = TestClient::connect(s.port());
  ASSERT_TRUE(a->hello().ok);
  HelloOptions ob;
  ob.va_base = 0x300000000000ull;  // B's window is elsewhere
  ASSERT_TRUE(b->hello(ob).ok);
  uint64_t pa = a->alloc(4096);
  ASSERT_NE(pa, 0u);
  a->enqueue<op::StreamCreate>({50, 0, 0});
  ASSERT_EQ(a->call<op::StreamSynchronize>({50}).status, CUDA_SUCCESS);

  // B cannot read A's memory, nor use A's stream.
  auto r = b->call<op::MemcpyDtoH>({pa, 16, 0, 0});
  EXPECT_EQ(r.status, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(r.error.find("not in an allocation of this session"), std::string::npos) << r.error;
  EXPECT_TRUE(r.payload.empty());
  EXPECT_EQ(b->call<op::StreamSynchronize>({50}).status, CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(b->call<op::MemFree>({pa}).status, CUDA_ERROR_INVALID_VALUE);

  // Out of range inside one's own allocation: sync and batched.
  uint64_t pb = b->alloc(4096);
  EXPECT_EQ(b->call<op::MemcpyDtoH>({pb + 4090, 16, 0, 0}).status, CUDA_ERROR_INVALID_VALUE);
  std::vector<uint8_t> bytes(64, 1);
  b->enqueue<op::MemcpyHtoD>({pb + 4090, 64, 0, 0}, bytes.data(), bytes.size());
  auto next = b->call<op::CtxSynchronize>({0});
  EXPECT_EQ(next.status, CUDA_ERROR_INVALID_VALUE);
  EXPECT_FALSE(next.error.empty());
  // Both sessions go on.
  EXPECT_EQ(b->call<op::CtxSynchronize>({0}).status, CUDA_SUCCESS);
  EXPECT_EQ(a->call<op::MemcpyDtoH>({pa, 16, 0, 0}).status, CUDA_SUCCESS);
  EXPECT_EQ(b->call<op::MemcpyDtoH>({pb, 16, 0, 0}).status, CUDA_SUCCESS);
}

TEST(ServerProcess, MemoryCapHolds) {
  ServerProcess s({"--vram", "64MiB"});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = TestClient::connect(s.port());
  HelloResult h = c->hello();
  ASSERT_TRUE(h.ok) << h.error;
  EXPECT_EQ(h.vram_limit, 64ull << 20);
  uint32_t st = 0;
  uint64_t p = c->alloc(48ull << 20, &st);
  ASSERT_EQ(st, CUDA_SUCCESS);
  c->alloc(32ull << 20, &st);
  EXPECT_EQ(st, CUDA_ERROR_OUT_OF_MEMORY);
  auto info = c->call<op::MemGetInfo>({0}).as<op::MemGetInfo::Result>();
  EXPECT_EQ(info.total_bytes, 64ull << 20);
  EXPECT_EQ(info.free_bytes, 16ull << 20);
  ASSERT_EQ(c->call<op::MemFree>({p}).status, CUDA_SUCCESS);
  c->alloc(32ull << 20, &st);
  EXPECT_EQ(st, CUDA_SUCCESS);
}

TEST(ServerProcess, FreedMemoryReadsZeroInTheNextSession) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  const uint64_t n = 1 << 20;
  uint64_t first = 0;
  {
    auto c = TestClient::connect(s.port());
    ASSERT_TRUE(c->hello().ok);
    first = c->alloc(n);
    std::vector<uint8_t> secret(n, 0xA5);
    c->enqueue<op::MemcpyHtoD>({first, n, 0, 0}, secret.data(), n);
    auto r = c->call<op::MemcpyDtoH>({first, 8, 0, 0});
    ASSERT_EQ(r.payload[0], 0xA5);
    ASSERT_EQ(c->call<op::MemFree>({first}).status, CUDA_SUCCESS);
    c->goodbye();
  }
  auto c2 = TestClient::connect(s.port());
  ASSERT_TRUE(c2->hello().ok);
  uint64_t second = c2->alloc(n);
  ASSERT_EQ(second, first);  // the same device addresses: the check below is meaningful
  auto r = c2->call<op::MemcpyDtoH>({second, n, 0, 0});
  ASSERT_EQ(r.status, CUDA_SUCCESS);
  EXPECT_EQ(std::count(r.payload.begin(), r.payload.end(), 0), static_cast<long>(n));
}

TEST(ServerProcess, WorkerCrashLeavesOtherSessionsRunning) {
  ServerProcess s(plugin_args());
  ASSERT_TRUE(s.started()) << s.log();
  auto victim = TestClient::connect(s.port());
  auto bystander = TestClient::connect(s.port());
  ASSERT_TRUE(victim->hello().ok);
  ASSERT_TRUE(bystander->hello().ok);
  uint64_t keep = bystander->alloc(4096);
  std::vector<uint8_t> pattern(4096, 0x3C);
  bystander->enqueue<op::MemcpyHtoD>({keep, 4096, 0, 0}, pattern.data(), 4096);

  load_kernel(*victim, 5, "crash_kernel");
  uint64_t p = victim->alloc(256);
  op::LaunchKernel::Args l{};
  l.function = 5;
  l.grid[0] = l.grid[1] = l.grid[2] = 1;
  l.block[0] = l.block[1] = l.block[2] = 1;
  l.param_bytes = 8;
  victim->enqueue<op::LaunchKernel>(l, &p, 8);
  EXPECT_THROW(victim->call<op::CtxSynchronize>({0}), net::NetError);
  EXPECT_TRUE(s.wait_log("crashed") || s.wait_log("exited with code")) << s.log();

  EXPECT_TRUE(s.alive());
  auto r = bystander->call<op::MemcpyDtoH>({keep, 4096, 0, 0});
  ASSERT_EQ(r.status, CUDA_SUCCESS);
  EXPECT_EQ(r.payload, pattern);
  auto fresh = TestClient::connect(s.port());
  EXPECT_TRUE(fresh->hello().ok);
}

TEST(ServerProcess, WildPointerInAHostKernelIsAnIllegalAddressNotACrash) {
  ServerProcess s(plugin_args());
  ASSERT_TRUE(s.started()) << s.log();
  auto victim = TestClient::connect(s.port());
  auto bystander = TestClient::connect(s.port());
  ASSERT_TRUE(victim->hello().ok);
  ASSERT_TRUE(bystander->hello().ok);
  uint64_t keep = bystander->alloc(4096);
  std::vector<uint8_t> pattern(4096, 0x5A);
  bystander->enqueue<op::MemcpyHtoD>({keep, 4096, 0, 0}, pattern.data(), 4096);

  load_kernel(*victim, 6, "wild_kernel");
  uint64_t bad = 0x1000;
  op::LaunchKernel::Args l{};
  l.function = 6;
  l.grid[0] = l.grid[1] = l.grid[2] = 1;
  l.block[0] = l.block[1] = l.block[2] = 1;
  l.param_bytes = 8;
  victim->enqueue<op::LaunchKernel>(l, &bad, 8);
  auto r = victim->call<op::CtxSynchronize>({0});
  EXPECT_EQ(r.status, static_cast<uint32_t>(CUDA_ERROR_ILLEGAL_ADDRESS)) << r.error;
  EXPECT_NE(r.error.find("wild_kernel touched 0x1000"), std::string::npos) << r.error;
  // Sticky, as on a GPU: the session's context is gone, its worker is not.
  EXPECT_EQ(victim->call<op::MemGetInfo>({0}).status,
            static_cast<uint32_t>(CUDA_ERROR_ILLEGAL_ADDRESS));
  EXPECT_EQ(s.log().find("crashed"), std::string::npos) << s.log();
  victim->goodbye();
  EXPECT_TRUE(s.alive());
  auto b = bystander->call<op::MemcpyDtoH>({keep, 4096, 0, 0});
  ASSERT_EQ(b.status, CUDA_SUCCESS);
  EXPECT_EQ(b.payload, pattern);
}

TEST(ServerProcess, KilledWorkerIsReapedAndLogged) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  auto victim = TestClient::connect(s.port());
  ASSERT_TRUE(victim->hello().ok);
  ASSERT_TRUE(s.wait_log(": worker ")) << s.log();
  std::smatch m;
  std::string log = s.log();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("session 1 from [^:]+:[0-9]+: worker ([0-9]+)")))
      << log;
  pid_t pid = std::stoi(m[1]);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_THROW(victim->call<op::CtxSynchronize>({0}), net::NetError);
  EXPECT_TRUE(s.wait_log("signal 9")) << s.log();
  auto other = TestClient::connect(s.port());
  EXPECT_TRUE(other->hello().ok);
  EXPECT_NE(other->alloc(64), 0u);
}

TEST(ServerProcess, GarbageDoesNotKillAnything) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  auto good = TestClient::connect(s.port());
  ASSERT_TRUE(good->hello().ok);

  // 1. Raw garbage instead of a hello: that connection is dropped.
  {
    auto g = TestClient::connect(s.port());
    std::vector<uint8_t> junk(4096);
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 131 + 7);
    g->stream().write_all(junk.data(), junk.size());
    char c;
    EXPECT_THROW(g->stream().read_exact(&c, 1), net::NetError);
  }
  // 2. After a good hello: a Request whose meta is not Cap'n Proto gets an error reply; a record
  //    of the wrong size, an unknown op and a malformed batch get errors; the session goes on.
  auto c = TestClient::connect(s.port());
  ASSERT_TRUE(c->hello().ok);
  {
    // A valid one-segment table (2 words) whose root pointer points nowhere.
    FrameHeader h{kFrameMagic, static_cast<uint16_t>(FrameKind::kRequest), 0, 24, 0, 0};
    uint8_t meta[24];
    std::memset(meta, 0xFF, sizeof meta);
    const uint32_t table[2] = {0, 2};
    std::memcpy(meta, table, sizeof table);
    c->stream().write_all(&h, sizeof h);
    c->stream().write_all(meta, sizeof meta);
    InFrame f = read_frame(c->stream());
    ASSERT_EQ(f.kind, FrameKind::kReply);
    auto rd = f.reader();
    EXPECT_EQ(rd.getRoot<wire::Reply>().getStatus(), CUDA_ERROR_INVALID_VALUE);
  }
  uint8_t three[3] = {1, 2, 3};
  EXPECT_EQ(c->call_raw(static_cast<uint16_t>(Op::MemAlloc), three, 3).status,
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(c->call_raw(4242, three, 3).status, CUDA_ERROR_NOT_SUPPORTED);
  {
    capnp::MallocMessageBuilder msg;
    auto b = msg.initRoot<wire::Batch>();
    b.setCount(5);
    uint8_t rec[24] = {12, 0, 0xFF, 0xFF, 0xFF, 0x7F};  // MemcpyHtoD with an absurd argsLen
    b.setRecords(capnp::Data::Reader(rec, sizeof rec));
    write_frame(c->stream(), FrameKind::kBatch, msg);
  }
  auto after = c->call<op::CtxSynchronize>({0});
  EXPECT_EQ(after.status, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(after.error.find("batch"), std::string::npos) << after.error;
  EXPECT_EQ(c->call<op::CtxSynchronize>({0}).status, CUDA_SUCCESS);
  // 3. A frame with a bad magic ends that session only.
  {
    FrameHeader h{0x12345678, 3, 0, 0, 0, 0};
    c->stream().write_all(&h, sizeof h);
    char ch;
    EXPECT_THROW(c->stream().read_exact(&ch, 1), net::NetError);
  }
  EXPECT_TRUE(s.alive());
  EXPECT_EQ(good->call<op::CtxSynchronize>({0}).status, CUDA_SUCCESS);
  auto fresh = TestClient::connect(s.port());
  EXPECT_TRUE(fresh->hello().ok);
}

TEST(ServerProcess, BulkCopiesTravelInChunks) {
  ServerProcess s({});
  ASSERT_TRUE(s.started()) << s.log();
  auto c = TestClient::connect(s.port());
  ASSERT_TRUE(c->hello().ok);
  const uint64_t n = 20ull << 20;  // three chunks back
  uint64_t p = c->alloc(n);
  std::vector<uint8_t> data(n);
  for (uint64_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
  // HtoD as a sync request with two raw chunks and a zero chunk.
  {
    capnp::MallocMessageBuilder msg;
    auto req = msg.initRoot<wire::Request>();
    req.setOp(static_cast<uint16_t>(Op::MemcpyHtoD));
    op::MemcpyHtoD::Args a{p, n, 0, 1};
    req.setArgs(capnp::Data::Reader(reinterpret_cast<uint8_t*>(&a), sizeof a));
    write_frame(c->stream(), FrameKind::kRequest, msg);
    const uint64_t half = n / 2, zero_len = 4096;
    std::memset(data.data() + half - zero_len, 0, zero_len);
    struct Piece {
      uint64_t off, len;
      bool zero, last;
    } pieces[] = {{0, half - zero_len, false, false},
                  {half - zero_len, zero_len, true, false},
                  {half, n - half, false, true}};
    for (auto& pc : pieces) {
      capnp::MallocMessageBuilder cm;
      auto ch = cm.initRoot<wire::BulkChunk>();
      ch.setOffset(pc.off);
      ch.setLength(pc.len);
      ch.setZero(pc.zero);
      ch.setLast(pc.last);
      write_frame(c->stream(), FrameKind::kBulkChunk, cm, pc.zero ? nullptr : data.data() + pc.off,
                  pc.zero ? 0 : pc.len);
    }
    InFrame f = read_frame(c->stream());
    ASSERT_EQ(f.kind, FrameKind::kReply);
    auto rd = f.reader();
    ASSERT_EQ(rd.getRoot<wire::Reply>().getStatus(), CUDA_SUCCESS)
        << rd.getRoot<wire::Reply>().getErrorText().cStr();
  }
  // DtoH with the bulk flag: a Reply, then BulkChunk frames.
  {
    capnp::MallocMessageBuilder msg;
    auto req = msg.initRoot<wire::Request>();
    req.setOp(static_cast<uint16_t>(Op::MemcpyDtoH));
    op::MemcpyDtoH::Args a{p, n, 0, 1};
    req.setArgs(capnp::Data::Reader(reinterpret_cast<uint8_t*>(&a), sizeof a));
    write_frame(c->stream(), FrameKind::kRequest, msg);
    InFrame f = read_frame(c->stream());
    ASSERT_EQ(f.kind, FrameKind::kReply);
    ASSERT_EQ(f.payload_len, 0u);
    std::vector<uint8_t> back(n);
    int chunks = 0;
    for (bool last = false; !last;) {
      InFrame ch = read_frame(c->stream());
      ASSERT_EQ(ch.kind, FrameKind::kBulkChunk);
      auto r = ch.reader();
      auto b = r.getRoot<wire::BulkChunk>();
      ASSERT_LE(b.getOffset() + b.getLength(), n);
      ASSERT_EQ(ch.payload_len, b.getLength());
      read_payload(c->stream(), back.data() + b.getOffset(), b.getLength());
      last = b.getLast();
      ++chunks;
    }
    EXPECT_GE(chunks, 3);
    EXPECT_TRUE(back == data);
  }
}

// ModuleLoad by hash (ops.def): a miss is CUDA_SUCCESS with image_missing = 1 and loads nothing;
// a pending async error, even CUDA_ERROR_NOT_FOUND, is that error with image_missing = 0, so a
// client cannot take the error for a miss (and resend the image, losing the error).
TEST(ServerProcess, HashOnlyModuleLoadTellsAMissApartFromAPendingError) {
  ServerProcess s(plugin_args());
  ASSERT_TRUE(s.started()) << s.log();
  auto c = TestClient::connect(s.port());
  ASSERT_TRUE(c->hello().ok);
  auto img = read_file(RGPU_TEST_CUBIN);
  ASSERT_FALSE(img.empty());
  const uint64_t hash = 0x5eed5eed12345678ull;

  // A miss: nothing loaded, the client is told to send the bytes.
  auto miss = c->call<op::ModuleLoad>({1, hash});
  ASSERT_EQ(miss.status, CUDA_SUCCESS) << miss.error;
  EXPECT_EQ(miss.as<op::ModuleLoad::Result>().image_missing, 1u);
  const char* name = "no_host_kernel";
  EXPECT_EQ(c->call<op::ModuleGetFunction>({1, 10}, name, std::strlen(name) + 1).status,
            CUDA_ERROR_INVALID_HANDLE);
  auto sent = c->call<op::ModuleLoad>({1, hash}, img.data(), img.size());
  ASSERT_EQ(sent.status, CUDA_SUCCESS) << sent.error;
  EXPECT_EQ(sent.as<op::ModuleLoad::Result>().image_missing, 0u);
  // A hit: loaded from the kept image.
  auto hit = c->call<op::ModuleLoad>({2, hash});
  ASSERT_EQ(hit.status, CUDA_SUCCESS) << hit.error;
  EXPECT_EQ(hit.as<op::ModuleLoad::Result>().image_missing, 0u);
  ASSERT_EQ(c->call<op::ModuleGetFunction>({2, 10}, name, std::strlen(name) + 1).status,
            CUDA_SUCCESS);

  // A batched launch of a kernel the sim has no host code for fails with NOT_FOUND.
  uint64_t out = c->alloc(64);
  ASSERT_NE(out, 0u);
  uint8_t params[24] = {};
  std::memcpy(params + 16, &out, 8);
  op::LaunchKernel::Args l{};
  l.function = 10;
  l.grid[0] = l.grid[1] = l.grid[2] = 1;
  l.block[0] = l.block[1] = l.block[2] = 1;
  l.param_bytes = sizeof params;
  c->enqueue<op::LaunchKernel>(l, params, sizeof params);
  // The next sync call is a hash-only ModuleLoad of an image the worker does not hold: the
  // launch's error is its answer, and it is not a miss.
  auto lost = c->call<op::ModuleLoad>({3, hash + 1});
  EXPECT_EQ(lost.status, CUDA_ERROR_NOT_FOUND) << lost.error;
  EXPECT_NE(lost.error.find("no_host_kernel"), std::string::npos) << lost.error;
  EXPECT_EQ(lost.as<op::ModuleLoad::Result>().image_missing, 0u);
  // Reported once; the ModuleLoad did not run, so asking again is a plain miss.
  EXPECT_EQ(c->call<op::CtxSynchronize>({0}).status, CUDA_SUCCESS);
  auto again = c->call<op::ModuleLoad>({3, hash + 1});
  EXPECT_EQ(again.status, CUDA_SUCCESS) << again.error;
  EXPECT_EQ(again.as<op::ModuleLoad::Result>().image_missing, 1u);
}

}  // namespace
}  // namespace rgpu::test
