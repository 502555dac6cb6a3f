// tests/server/sim_session_test.cc — the sim backend and the session's validation, in-process.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "protocol/batch_record.h"
#include "protocol/image/param_layout.h"
#include "protocol/launch_record.h"
#include "server/backend/sim_backend.h"
#include "server/backend/sim_props.h"
#include "server/backend/va_window.h"
#include "server/config.h"
#include "server/worker/session.h"
#include "tests/server/sim_session_fixture.h"
#include "tests/server/test_client.h"

namespace rgpu::server {
namespace {

TEST(VaWindow, RejectsUnsafeWindowsAndAllocatesFirstFit) {
  EXPECT_EQ(check_window(kDefaultVaBase, kDefaultVaSize), "");
  EXPECT_NE(check_window(0x1000, kDefaultVaSize), "");
  EXPECT_NE(check_window(0x7ff000000000ull, kDefaultVaSize), "");
  EXPECT_NE(check_window(kDefaultVaBase + 4096, kDefaultVaSize), "");
  VaAllocator va;
  va.reset(0x1000, 0x10000, 0x1000);
  auto a = va.allocate(1), b = va.allocate(0x2000), c = va.allocate(0x1000);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, 0x1000u);
  EXPECT_EQ(*b, 0x2000u);
  EXPECT_EQ(*c, 0x4000u);
  EXPECT_EQ(va.release(*b), 0x2000u);
  EXPECT_EQ(va.release(*b), 0u);
  EXPECT_EQ(*va.allocate(0x1800), 0x2000u);
  EXPECT_FALSE(va.allocate(0x100000).has_value());
}

TEST(Config, ParsesSizesAndFlags) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_size("16GiB", &v));
  EXPECT_EQ(v, 16ull << 30);
  EXPECT_TRUE(parse_size("512m", &v));
  EXPECT_EQ(v, 512ull << 20);
  EXPECT_TRUE(parse_size("4096", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_FALSE(parse_size("12XB", &v));
  EXPECT_FALSE(parse_size("0", &v));
  EXPECT_FALSE(parse_size("GiB", &v));
  ServerOptions o;
  std::string err;
  const char* argv[] = {"rgpu-server", "--backend", "sim", "--vram=1GiB", "--sim-plugin", "a.so",
                        "--insecure",  "--gpu",     "2"};
  ASSERT_TRUE(parse_options(9, const_cast<char**>(argv), &o, &err)) << err;
  EXPECT_EQ(o.backend, "sim");
  EXPECT_EQ(o.vram, 1ull << 30);
  EXPECT_EQ(o.gpu, 2u);
  ASSERT_EQ(o.sim_plugins.size(), 1u);
  const char* bad[] = {"rgpu-server", "--backend", "tpu"};
  ServerOptions o2;
  EXPECT_FALSE(parse_options(3, const_cast<char**>(bad), &o2, &err));
  EXPECT_NE(err.find("tpu"), std::string::npos);
  const char* both[] = {"rgpu-server", "--insecure", "--secret", "x"};
  ServerOptions o3;
  EXPECT_FALSE(parse_options(4, const_cast<char**>(both), &o3, &err));
}

TEST(SimProps, ReportsTheArchItIsGiven) {
  DeviceProps p = sim_device_props(0, SimArch{12, 1}, kCap, kBase, kDefaultVaSize);
  EXPECT_EQ(p.cc_major, 12);
  EXPECT_EQ(p.cc_minor, 1);
  EXPECT_EQ(p.attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR], 12);
  EXPECT_EQ(p.attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR], 1);
  SimArch a;
  EXPECT_TRUE(parse_sim_arch("9.0", &a));
  EXPECT_EQ(a.sm(), 90u);
  EXPECT_TRUE(parse_sim_arch("12.0", &a));
  EXPECT_EQ(a.sm(), 120u);
  for (const char* bad : {"", "12", "12.", ".0", "12.10", "1.0", "12.0x", "-9.0", "12.0 ", "x"})
    EXPECT_FALSE(parse_sim_arch(bad, &a)) << bad;
  ServerOptions o;
  std::string err;
  const char* argv[] = {"rgpu-server", "--sim-arch", "nine"};
  EXPECT_FALSE(parse_options(3, const_cast<char**>(argv), &o, &err));
  EXPECT_NE(err.find("--sim-arch wants a compute capability"), std::string::npos) << err;
}

TEST(SimProps, LooksLikeAnH100) {
  DeviceProps p = sim_device_props(0, kSimDefaultArch, kCap, kBase, kDefaultVaSize);
  EXPECT_STREQ(p.name, "rgpu sim");
  EXPECT_EQ(p.attrs[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT], 132);
  // 13.0: newer than every shipped SASS, so libraries hand over their PTX (sim_props.h).
  EXPECT_EQ(p.attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR], 13);
  EXPECT_EQ(p.attrs[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR], 0);
  EXPECT_EQ(p.total_mem, kCap);
  // Every attribute cudart 13 reads at init (dark-api.md 2.1) that must be non-zero on an H100.
  for (int a : {75, 16, 19, 1,  2,  3,  4,   5,   6,  7,  8,  9,  10, 12,
                13, 14, 39, 81, 82, 97, 106, 111, 38, 37, 36, 41, 31, 120})
    EXPECT_NE(p.attrs[a], 0) << "attribute " << a;
  DeviceProps q = sim_device_props(1, kSimDefaultArch, kCap, kBase, kDefaultVaSize);
  EXPECT_NE(std::memcmp(p.uuid, q.uuid, 16), 0);
}

TEST_F(SimSession, AllocCopyMemsetFree) {
  uint64_t p = alloc(4096);
  EXPECT_GE(p, kBase);
  std::vector<uint8_t> data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  async<op::MemcpyHtoD>({p, 4096, 0, 0}, data.data(), data.size());
  EXPECT_EQ(dtoh(p, 4096), data);
  // The device pointer is a host address in the worker (contract 5).
  EXPECT_EQ(reinterpret_cast<uint8_t*>(p)[5], data[5]);
  uint64_t q = alloc(4096);
  async<op::MemcpyDtoD>({q, p + 100, 200, 0});
  auto back = dtoh(q, 200);
  EXPECT_TRUE(std::equal(back.begin(), back.end(), data.begin() + 100));
  async<op::Memset>({q, 4, 0xAB, 1, 0});
  async<op::Memset>({q + 4, 2, 0x1234, 2, 0});
  async<op::Memset>({q + 8, 2, 0xDEADBEEF, 4, 0});
  auto m = dtoh(q, 16);
  EXPECT_EQ(m[0], 0xAB);
  EXPECT_EQ(m[3], 0xAB);
  uint16_t h;
  std::memcpy(&h, &m[6], 2);
  EXPECT_EQ(h, 0x1234);
  uint32_t w;
  std::memcpy(&w, &m[12], 4);
  EXPECT_EQ(w, 0xDEADBEEFu);
  EXPECT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  EXPECT_TRUE(sync<op::MemFree>({p}).status.ok());
  EXPECT_EQ(sync<op::MemFree>({p}).status.code, CUDA_ERROR_INVALID_VALUE);  // double free
  EXPECT_TRUE(sync<op::MemFree>({q}).status.ok());
}

// 2-D ops (protocol 6): every row of the span is checked before anything moves; a pitch
// shorter than the width, a span past the allocation, an overflowing span and a payload that is
// not rows * width are refused with the session still serving.
TEST_F(SimSession, TwoDimensionalCopiesCheckEveryRow) {
  const uint64_t p = alloc(4096);
  std::vector<uint8_t> rows(3 * 10);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<uint8_t>(i + 1);
  async<op::Memset>({p, 4096, 0, 1, 0});
  async<op::Memcpy2DHtoD>({p + 5, 100, 10, 3, 0}, rows.data(), rows.size());
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  auto all = dtoh(p, 4096);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 10; ++c) EXPECT_EQ(all[5 + r * 100 + c], rows[r * 10 + c]) << r << c;
  EXPECT_EQ(all[5 + 10], 0);  // the bytes between rows are untouched
  OpReply back = sync<op::Memcpy2DDtoH>({p + 5, 100, 10, 3, 0});
  ASSERT_TRUE(back.status.ok()) << back.status.text;
  EXPECT_EQ(back.payload, rows);
  async<op::Memset2D>({p + 1000, 64, 3, 4, 0x01020304, 4, 0});
  auto m = dtoh(p + 1000, 4 * 64);
  uint32_t v;
  std::memcpy(&v, &m[3 * 64 + 8], 4);
  EXPECT_EQ(v, 0x01020304u);
  EXPECT_EQ(m[3 * 64 + 12], 0);

  auto refused = [&](const OpReply& r, const std::string& words) {
    return r.status.code == CUDA_ERROR_INVALID_VALUE &&
           r.status.text.find(words) != std::string::npos;
  };
  EXPECT_TRUE(refused(sync<op::Memcpy2DDtoH>({p, 8, 10, 3, 0}), "pitch 8 is less than its width"));
  EXPECT_TRUE(refused(sync<op::Memcpy2DDtoH>({p, 1000, 10, 6, 0}), "runs past the end"));
  EXPECT_TRUE(refused(sync<op::Memcpy2DDtoH>({p, UINT64_MAX / 2, 10, 3, 0}), "overflows"));
  EXPECT_TRUE(refused(sync<op::Memcpy2DDtoH>({p, 16, 16, 2ull << 20, 0}), "more than one reply"));
  async<op::Memcpy2DDtoD>({p, 100, p + 4000, 100, 10, 2, 0});
  EXPECT_TRUE(refused(sync<op::MemGetInfo>({0}), "runs past the end"));
  async<op::Memcpy2DHtoD>({p, 100, 10, 3, 0}, rows.data(), 29);
  EXPECT_TRUE(refused(sync<op::MemGetInfo>({0}), "carries 29"));
  EXPECT_EQ(session
                .payload_check(static_cast<uint16_t>(Op::Memcpy2DHtoD),
                               reinterpret_cast<const uint8_t*>(&rows), 0, 0)
                .code,
            CUDA_SUCCESS);  // a malformed record is reported when it runs
  op::Memcpy2DHtoD::Args huge{p, 1, 1ull << 40, 1ull << 40, 0};
  EXPECT_EQ(session
                .payload_check(static_cast<uint16_t>(Op::Memcpy2DHtoD),
                               reinterpret_cast<const uint8_t*>(&huge), sizeof huge, 16)
                .code,
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());
}

// Virtual memory ops (protocol 6) are checked by the worker whatever the client checked: a
// mapping only inside this session's reservation, over nothing mapped, of this session's handle;
// unmaps of whole mappings only; mapped memory is device memory for copies, across adjacent
// mappings; physical memory counts until released and unmapped.
TEST_F(SimSession, VirtualMemoryIsCheckedAndCountedByPhysicalBytes) {
  constexpr uint64_t g = kVmmGranularity;
  auto says = [](const OpReply& r, CUresult code, const std::string& words) {
    return r.status.code == code && r.status.text.find(words) != std::string::npos;
  };
  const uint64_t used0 = backend.mem_used();
  OpReply rr = sync<op::AddressReserve>({8 * g, 0, 0});
  ASSERT_TRUE(rr.status.ok()) << rr.status.text;
  const uint64_t va = result<op::AddressReserve::Result>(rr).va;
  EXPECT_EQ(va % g, 0u);
  EXPECT_EQ(backend.mem_used(), used0);  // address space costs nothing
  ASSERT_TRUE(sync<op::MemCreate>({501, 2 * g}).status.ok());
  ASSERT_TRUE(sync<op::MemCreate>({502, g}).status.ok());
  EXPECT_EQ(backend.mem_used(), used0 + 3 * g);
  EXPECT_TRUE(says(sync<op::MemCreate>({501, g}), CUDA_ERROR_INVALID_VALUE, "already in use"));
  EXPECT_TRUE(says(sync<op::MemCreate>({503, g + 1}), CUDA_ERROR_INVALID_VALUE, "granularity"));
  async<op::MemMap>({va, 2 * g, 0, 501});
  async<op::MemMap>({va + 2 * g, g, 0, 502});
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  // A copy runs across the two adjacent mappings.
  std::vector<uint8_t> bytes(64, 0x7E);
  async<op::MemcpyHtoD>({va + 2 * g - 32, 64, 0, 0}, bytes.data(), bytes.size());
  EXPECT_EQ(dtoh(va + 2 * g - 32, 64), bytes);
  // Refusals.
  async<op::MemMap>({va + g, g, 0, 502});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_VALUE, "overlaps"));
  async<op::MemMap>({va + 20 * g, g, 0, 502});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_VALUE, "outside this session"));
  async<op::MemMap>({va + 5 * g, g, 0, 999});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_HANDLE,
                   "allocation handle 999 does not belong"));
  async<op::MemMap>({va + 5 * g, 2 * g, 0, 502});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_VALUE, "-byte allocation"));
  async<op::MemUnmap>({va, g});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_VALUE, "whole mappings"));
  async<op::AddressFree>({va, 8 * g});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_VALUE, "still mapped"));
  EXPECT_TRUE(says(sync<op::MemcpyDtoH>({va + 3 * g, 8, 0, 0}), CUDA_ERROR_INVALID_VALUE,
                   "not in an allocation"));
  // Released while mapped: still counted and usable until unmapped.
  async<op::MemRelease>({501});
  EXPECT_EQ(backend.mem_used(), used0 + 3 * g);
  EXPECT_EQ(dtoh(va + 2 * g - 32, 32), std::vector<uint8_t>(32, 0x7E));
  async<op::MemUnmap>({va, 3 * g});  // a run of two whole mappings
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  EXPECT_EQ(backend.mem_used(), used0 + g);  // 502 is unmapped but not released
  async<op::MemRelease>({502});
  async<op::AddressFree>({va, 8 * g});
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  EXPECT_EQ(backend.mem_used(), used0);
}

// Protocol 10's batched module load and free (ops.def): each does what its sync twin does; a
// failed load is told by the module's own lookups, other refusals at the next sync call.
TEST_F(SimSession, DeferredLoadsAndFreesActAsTheirSyncTwinsAndReportAtTheNextSync) {
  auto img = test::read_file(RGPU_TEST_CUBIN);
  ASSERT_FALSE(img.empty());
  async<op::ModuleLoadDeferred>({1, 55}, img.data(), img.size());
  EXPECT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  EXPECT_TRUE(get_function(1, 10, "vec_add").status.ok());
  OpReply r = sync<op::ModuleLoad>({2, 55});  // kept under the client's hash, as with bytes
  ASSERT_TRUE(r.status.ok()) << r.status.text;
  EXPECT_EQ(result<op::ModuleLoad::Result>(r).image_missing, 0u);

  const uint64_t p = alloc(4096);
  async<op::MemFreeDeferred>({p});
  EXPECT_TRUE(session.pending_error().ok());
  EXPECT_FALSE(sync<op::MemcpyDtoH>({p, 16, 0, 0}).status.ok()) << "freed memory was readable";

  // A bad image: the load fails, and the module's own lookups say so, not an unrelated call.
  const std::string junk = "not a module image at all";
  async<op::ModuleLoadDeferred>({3, 56}, junk.data(), junk.size());
  EXPECT_TRUE(sync<op::CtxSynchronize>({0}).status.ok()) << "another call got the load's error";
  r = get_function(3, 11, "vec_add");
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.code, sync<op::ModuleLoad>({4, 0}, junk.data(), junk.size()).status.code)
      << "the deferred load's error differs from ModuleLoad's";
  EXPECT_EQ(sync<op::ModuleGetGlobal>({3}, "g", 2).status.code, r.status.code);
  async<op::ModuleUnload>({3});  // a failed module unloads (nothing on the backend)
  EXPECT_TRUE(sync<op::CtxSynchronize>({0}).status.ok());
  // No image, or a pointer that is not the session's: refused, reported at the next sync.
  async<op::ModuleLoadDeferred>({5, 57});
  r = sync<op::CtxSynchronize>({0});
  EXPECT_EQ(r.status.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(r.status.text.find("carries no image"), std::string::npos) << r.status.text;
  async<op::MemFreeDeferred>({p});  // already freed
  r = sync<op::CtxSynchronize>({0});
  EXPECT_EQ(r.status.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(r.status.text.find("not an allocation of this session"), std::string::npos)
      << r.status.text;
}

// Graphs kept by the worker (ops.def GraphUpload/GraphLaunch/GraphDestroy, protocol 10): an
// upload runs nothing; each launch replays its records; only async ops other than graph ops may
// be kept; handles are checked; a destroyed graph is gone.
TEST_F(SimSession, AKeptGraphReplaysItsRecordsAtEachLaunch) {
  const uint64_t p = alloc(64);
  std::vector<uint8_t> recs;
  const op::Memset::Args fill{p, 64, 0xAB, 1, 0};
  append_batch_record(&recs, static_cast<uint16_t>(Op::Memset), &fill, sizeof fill, nullptr, 0);
  async<op::GraphUpload>({7, 1, 0}, recs.data(), recs.size());
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  EXPECT_EQ(dtoh(p, 64), std::vector<uint8_t>(64, 0)) << "an upload ran its records";
  async<op::GraphLaunch>({7});
  EXPECT_EQ(dtoh(p, 64), std::vector<uint8_t>(64, 0xAB));
  async<op::Memset>({p, 64, 0, 1, 0});
  async<op::GraphLaunch>({7});  // replayed again, not once
  EXPECT_EQ(dtoh(p, 64), std::vector<uint8_t>(64, 0xAB));

  auto refused = [&](const std::vector<uint8_t>& r, uint32_t count, uint64_t handle) {
    async<op::GraphUpload>({handle, count, 0}, r.data(), r.size());
    return sync<op::CtxSynchronize>({0}).status;
  };
  EXPECT_NE(refused(recs, 1, 7).text.find("graph handle 7"), std::string::npos);  // in use
  EXPECT_NE(refused(recs, 2, 8).text.find("GraphUpload's records"), std::string::npos);
  std::vector<uint8_t> sync_op;
  const op::MemAlloc::Args m{64};
  append_batch_record(&sync_op, static_cast<uint16_t>(Op::MemAlloc), &m, sizeof m, nullptr, 0);
  EXPECT_NE(refused(sync_op, 1, 9).text.find("cannot run"), std::string::npos);
  std::vector<uint8_t> nested;
  const op::GraphLaunch::Args gl{7};
  append_batch_record(&nested, static_cast<uint16_t>(Op::GraphLaunch), &gl, sizeof gl, nullptr, 0);
  EXPECT_NE(refused(nested, 1, 10).text.find("cannot run"), std::string::npos);

  async<op::GraphDestroy>({7});
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  async<op::GraphLaunch>({7});
  EXPECT_EQ(sync<op::CtxSynchronize>({0}).status.code, CUDA_ERROR_INVALID_HANDLE);
  async<op::GraphUpload>({11, 0, 0});  // no records at all
  const Status none = sync<op::CtxSynchronize>({0}).status;
  EXPECT_EQ(none.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(none.text.find("GraphUpload"), std::string::npos) << none.text;
  EXPECT_FALSE(session
                   .payload_check(static_cast<uint16_t>(Op::GraphUpload), nullptr, 0,
                                  kMaxGraphRecordsBytes + 1)
                   .ok());
}

TEST_F(SimSession, FreedMemoryComesBackZeroed) {
  uint64_t p = alloc(1 << 20);
  std::vector<uint8_t> ones(1 << 20, 0xFF);
  async<op::MemcpyHtoD>({p, ones.size(), 0, 0}, ones.data(), ones.size());
  ASSERT_EQ(dtoh(p, 16)[0], 0xFF);
  ASSERT_TRUE(sync<op::MemFree>({p}).status.ok());
  uint64_t again = alloc(1 << 20);
  ASSERT_EQ(again, p);  // same address: the test is meaningful
  auto z = dtoh(again, 1 << 20);
  EXPECT_EQ(std::count(z.begin(), z.end(), 0), static_cast<long>(z.size()));
}

TEST_F(SimSession, MemoryCapAndMemGetInfo) {
  uint64_t a = alloc(48ull << 20);
  OpReply r = sync<op::MemAlloc>({32ull << 20});
  EXPECT_EQ(r.status.code, CUDA_ERROR_OUT_OF_MEMORY);
  EXPECT_NE(r.status.text.find("cap"), std::string::npos) << r.status.text;
  auto info = result<op::MemGetInfo::Result>(sync<op::MemGetInfo>({0}));
  EXPECT_EQ(info.total_bytes, kCap);
  EXPECT_EQ(info.free_bytes, kCap - (48ull << 20));
  EXPECT_EQ(sync<op::MemAlloc>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(sync<op::MemAlloc>({1ull << 62}).status.code, CUDA_ERROR_OUT_OF_MEMORY);
  ASSERT_TRUE(sync<op::MemFree>({a}).status.ok());
  alloc(32ull << 20);
  EXPECT_GT(meter.mem_peak(), 0u);
}

TEST_F(SimSession, RangesAndHandlesAreChecked) {
  uint64_t p = alloc(4096);
  // Out of range (runs past the end) and outside any allocation.
  OpReply r = sync<op::MemcpyDtoH>({p + 4000, 200, 0, 0});
  EXPECT_EQ(r.status.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_TRUE(r.payload.empty());
  EXPECT_EQ(sync<op::MemcpyDtoH>({kBase + (1ull << 30), 8, 0, 0}).status.code,
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(sync<op::MemFree>({p + 8}).status.code, CUDA_ERROR_INVALID_VALUE);
  // Unknown handles.
  EXPECT_EQ(sync<op::StreamSynchronize>({77}).status.code, CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(sync<op::EventQuery>({5}).status.code, CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(sync<op::FuncGetAttribute>({9, 0, 0}).status.code, CUDA_ERROR_INVALID_HANDLE);
  // Payload size must match the record.
  uint8_t byte = 1;
  EXPECT_EQ(sync<op::MemcpyHtoD>({p, 2, 0, 0}, &byte, 1).status.code, CUDA_ERROR_INVALID_VALUE);
  // A record of the wrong size.
  uint8_t junk[3] = {1, 2, 3};
  OpReply j = session.sync(static_cast<uint16_t>(Op::MemAlloc), junk, 3, nullptr, 0);
  EXPECT_EQ(j.status.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(j.status.text.find("MemAlloc"), std::string::npos);
  // Unknown op.
  EXPECT_EQ(session.sync(999, nullptr, 0, nullptr, 0).status.code, CUDA_ERROR_NOT_SUPPORTED);
  // The session still works.
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());
}

// Every op that names a handle asks the session's one lookup (server/worker/handles.h), so a
// foreign handle gets the same words whatever the op; and every op's payload is held to its
// ops.def Payload column before a byte of it is used.
TEST_F(SimSession, ForeignHandlesAndPayloadsGetOneAnswerPerKind) {
  auto says = [](const OpReply& r, CUresult code, const std::string& words) {
    return r.status.code == code && r.status.text.find(words) != std::string::npos;
  };
  const std::string foreign = " does not belong to this session";
  EXPECT_TRUE(says(sync<op::StreamQuery>({77}), CUDA_ERROR_INVALID_HANDLE, "stream 77" + foreign));
  EXPECT_TRUE(
      says(sync<op::EventSynchronize>({5}), CUDA_ERROR_INVALID_HANDLE, "event 5" + foreign));
  EXPECT_TRUE(
      says(sync<op::EventElapsedTime>({5, 6}), CUDA_ERROR_INVALID_HANDLE, "event 5" + foreign));
  EXPECT_TRUE(says(sync<op::OccupancyMaxActiveBlocks>({9, 32, 0, 0}), CUDA_ERROR_INVALID_HANDLE,
                   "function 9" + foreign));
  const char* name = "vec_add";
  EXPECT_TRUE(says(sync<op::ModuleGetFunction>({4, 100}, name, 8), CUDA_ERROR_INVALID_HANDLE,
                   "module 4" + foreign));
  async<op::ModuleUnload>({4});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_HANDLE, "module 4" + foreign));
  async<op::StreamCreate>({10, 0, 0});
  async<op::StreamCreate>({10, 0, 0});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_VALUE,
                   "stream handle 10 is already in use"));
  async<op::StreamCreate>({2, 0, 0});
  EXPECT_TRUE(says(sync<op::MemGetInfo>({0}), CUDA_ERROR_INVALID_VALUE, "built-in stream"));
  EXPECT_TRUE(sync<op::StreamSynchronize>({10}).status.ok());

  // Payload rules: none where ops.def says kNone, a bounded name, a bounded launch record.
  uint8_t bytes[16] = {};
  EXPECT_TRUE(says(sync<op::StreamQuery>({10}, bytes, 16), CUDA_ERROR_INVALID_VALUE,
                   "StreamQuery carries no payload, got 16 bytes"));
  EXPECT_EQ(session.payload_check(static_cast<uint16_t>(Op::ModuleGetGlobal), nullptr, 0, 0).code,
            CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(
      session.payload_check(static_cast<uint16_t>(Op::ModuleGetGlobal), nullptr, 0, (64 << 10) + 1)
          .code,
      CUDA_ERROR_INVALID_VALUE);
  EXPECT_TRUE(
      session.payload_check(static_cast<uint16_t>(Op::LaunchKernel), nullptr, 0, 32764 + 32 * 72)
          .ok());
  EXPECT_EQ(
      session
          .payload_check(static_cast<uint16_t>(Op::LaunchKernel), nullptr, 0, 32764 + 32 * 72 + 1)
          .code,
      CUDA_ERROR_INVALID_VALUE);
  EXPECT_EQ(session.payload_check(999, nullptr, 0, 0).code, CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());
}

TEST_F(SimSession, AsyncErrorIsReturnedOnceAtTheNextSync) {
  uint64_t p = alloc(64);
  async<op::Memset>({p + 60, 16, 0, 1, 0});  // out of range: the first error
  async<op::StreamDestroy>({1234});          // second error: not returned
  async<op::Memset>({p, 4, 0x11, 1, 0});     // still runs
  EXPECT_EQ(session.pending_error().code, CUDA_ERROR_INVALID_VALUE);
  OpReply r = sync<op::CtxSynchronize>({0});
  EXPECT_EQ(r.status.code, CUDA_ERROR_INVALID_VALUE);
  EXPECT_NE(r.status.text.find("memset"), std::string::npos) << r.status.text;
  EXPECT_TRUE(sync<op::CtxSynchronize>({0}).status.ok());
  EXPECT_EQ(dtoh(p, 1)[0], 0x11);
  EXPECT_EQ(meter.errors, 2u);
}

TEST_F(SimSession, StreamsAndEventsTimeTheirWork) {
  async<op::StreamCreate>({10, 0, 0});
  async<op::EventCreate>({1, 0, 0});
  async<op::EventCreate>({2, 0, 0});
  async<op::EventCreate>({3, CU_EVENT_DISABLE_TIMING, 0});
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  EXPECT_EQ(sync<op::EventElapsedTime>({1, 2}).status.code,
            CUDA_ERROR_INVALID_HANDLE);  // unrecorded
  async<op::EventRecord>({1, 10});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  async<op::EventRecord>({2, 10});
  async<op::StreamWaitEvent>({0, 2, 0, 0});
  EXPECT_TRUE(sync<op::StreamQuery>({10}).status.ok());
  EXPECT_TRUE(sync<op::EventSynchronize>({2}).status.ok());
  auto ms = result<op::EventElapsedTime::Result>(sync<op::EventElapsedTime>({1, 2})).ms;
  EXPECT_GE(ms, 19.0f);
  EXPECT_LT(ms, 2000.0f);
  async<op::EventRecord>({3, 0});
  EXPECT_EQ(sync<op::EventElapsedTime>({1, 3}).status.code, CUDA_ERROR_INVALID_HANDLE);
  async<op::StreamCreate>({10, 0, 0});  // duplicate handle
  EXPECT_EQ(sync<op::StreamSynchronize>({10}).status.code, CUDA_ERROR_INVALID_VALUE);
  async<op::StreamDestroy>({10});
  EXPECT_EQ(sync<op::StreamSynchronize>({10}).status.code, CUDA_ERROR_INVALID_HANDLE);
  EXPECT_TRUE(sync<op::StreamSynchronize>({0}).status.ok());
}

TEST_F(SimSession, ModuleLayoutsGlobalsAttributesAndLaunch) {
  load_module(1, RGPU_TEST_CUBIN);
  OpReply f = get_function(1, 100, "vec_add");
  ASSERT_TRUE(f.status.ok()) << f.status.text;
  auto layout = image::decode_param_layout(f.payload.data(), f.payload.size());
  ASSERT_TRUE(layout.ok()) << layout.error();
  ASSERT_EQ(layout->params.size(), 4u);
  EXPECT_EQ(layout->params[2].offset, 16u);
  EXPECT_EQ(layout->params[3].offset, 24u);
  EXPECT_EQ(layout->params[3].size, 4u);
  EXPECT_EQ(get_function(1, 101, "nope").status.code, CUDA_ERROR_NOT_FOUND);
  EXPECT_EQ(get_function(1, 100, "vec_add").status.code, CUDA_ERROR_INVALID_VALUE);  // handle taken

  // __device__ int g_counter = 42 has its initial value at its device address.
  const char* g = "g_counter";
  OpReply gr = sync<op::ModuleGetGlobal>({1}, g, std::strlen(g) + 1);
  ASSERT_TRUE(gr.status.ok()) << gr.status.text;
  auto gres = result<op::ModuleGetGlobal::Result>(gr);
  EXPECT_EQ(gres.bytes, 4u);
  auto gv = dtoh(gres.dptr, 4);
  int counter;
  std::memcpy(&counter, gv.data(), 4);
  EXPECT_EQ(counter, 42);

  auto attr = [&](CUfunction_attribute a) {
    return result<op::FuncGetAttribute::Result>(sync<op::FuncGetAttribute>({100, a, 0})).value;
  };
  EXPECT_GT(attr(CU_FUNC_ATTRIBUTE_NUM_REGS), 0);
  EXPECT_EQ(attr(CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK), 1024);
  EXPECT_EQ(attr(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), 48 * 1024);
  async<op::FuncSetAttribute>({100, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 100000});
  EXPECT_EQ(attr(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), 100000);
  auto occ = result<op::OccupancyMaxActiveBlocks::Result>(
      sync<op::OccupancyMaxActiveBlocks>({100, 256, 0, 0}));
  EXPECT_GE(occ.blocks, 1);
  EXPECT_LE(occ.blocks, 8);

  const int n = 1000;
  std::vector<float> a(n), b(n);
  for (int i = 0; i < n; ++i) a[i] = i, b[i] = 2 * i;
  uint64_t da = alloc(n * 4), db = alloc(n * 4), dc = alloc(n * 4);
  async<op::MemcpyHtoD>({da, n * 4, 0, 0}, a.data(), n * 4);
  async<op::MemcpyHtoD>({db, n * 4, 0, 0}, b.data(), n * 4);
  uint8_t params[28];
  std::memcpy(params, &da, 8);
  std::memcpy(params + 8, &db, 8);
  std::memcpy(params + 16, &dc, 8);
  std::memcpy(params + 24, &n, 4);
  op::LaunchKernel::Args l{};
  l.function = 100;
  l.grid[0] = 4, l.grid[1] = 1, l.grid[2] = 1;
  l.block[0] = 256, l.block[1] = 1, l.block[2] = 1;
  l.param_bytes = 28;
  async<op::LaunchKernel>(l, params, sizeof params);
  ASSERT_TRUE(session.pending_error().ok()) << session.pending_error().text;
  auto c = dtoh(dc, n * 4);
  float c999;
  std::memcpy(&c999, c.data() + 999 * 4, 4);
  EXPECT_EQ(c999, 2997.0f);
  EXPECT_GT(backend.busy_ns(), 0u);

  // Launch checks: short parameters, bad geometry, unknown function.
  op::LaunchKernel::Args bad = l;
  bad.param_bytes = 20;
  async<op::LaunchKernel>(bad, params, 20);
  EXPECT_NE(sync<op::CtxSynchronize>({0}).status.text.find("parameter"), std::string::npos);
  bad = l;
  bad.block[0] = 2048;
  async<op::LaunchKernel>(bad, params, sizeof params);
  EXPECT_EQ(sync<op::CtxSynchronize>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  bad = l;
  bad.grid[1] = 0;
  async<op::LaunchKernel>(bad, params, sizeof params);
  EXPECT_EQ(sync<op::CtxSynchronize>({0}).status.code, CUDA_ERROR_INVALID_VALUE);
  bad = l;
  bad.function = 555;
  async<op::LaunchKernel>(bad, params, sizeof params);
  EXPECT_EQ(sync<op::CtxSynchronize>({0}).status.code, CUDA_ERROR_INVALID_HANDLE);

  // Launch attributes: hints run; what the sim cannot honour is refused by name.
  auto with_attr = [&](CUlaunchAttribute attr) {
    uint8_t buf[28 + kLaunchAttrBytes];
    std::memcpy(buf, params, 28);
    encode_launch_attr(attr, buf + 28);
    op::LaunchKernel::Args la = l;
    la.num_attrs = 1;
    async<op::LaunchKernel>(la, buf, sizeof buf);
    return sync<op::CtxSynchronize>({0}).status;
  };
  CUlaunchAttribute at{};
  at.id = CU_LAUNCH_ATTRIBUTE_PRIORITY;
  at.value.priority = -1;
  EXPECT_TRUE(with_attr(at).ok());
  at = {};
  at.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  at.value.clusterDim.x = 2;
  at.value.clusterDim.y = at.value.clusterDim.z = 1;
  Status cl = with_attr(at);
  EXPECT_EQ(cl.code, CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_NE(cl.text.find("clusters of 2 blocks"), std::string::npos) << cl.text;
  at = {};
  at.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
  at.value.cooperative = 1;
  EXPECT_EQ(with_attr(at).code, CUDA_ERROR_NOT_SUPPORTED);

  // A kernel with no host implementation fails with NOT_FOUND naming it.
  ASSERT_TRUE(get_function(1, 102, "no_host_kernel").status.ok());
  uint8_t p3[24] = {};
  op::LaunchKernel::Args nh = l;
  nh.function = 102;
  nh.param_bytes = 24;
  async<op::LaunchKernel>(nh, p3, sizeof p3);
  OpReply nf = sync<op::CtxSynchronize>({0});
  EXPECT_EQ(nf.status.code, CUDA_ERROR_NOT_FOUND);
  EXPECT_NE(nf.status.text.find("no_host_kernel"), std::string::npos) << nf.status.text;
  EXPECT_TRUE(sync<op::CtxSynchronize>({0}).status.ok());  // not sticky

  // Unload: the function and the global go away with the module.
  async<op::ModuleUnload>({1});
  EXPECT_EQ(sync<op::FuncGetAttribute>({100, 0, 0}).status.code, CUDA_ERROR_INVALID_HANDLE);
  EXPECT_EQ(sync<op::MemcpyDtoH>({gres.dptr, 4, 0, 0}).status.code, CUDA_ERROR_INVALID_VALUE);
}

TEST_F(SimSession, ModuleVariablesCountInTheMemoryMeter) {
  EXPECT_EQ(meter.mem_bytes(), 0u);
  load_module(1, RGPU_TEST_CUBIN);  // g_counter and c_scale are device memory once loaded
  EXPECT_GT(meter.mem_bytes(), 0u);
  EXPECT_EQ(meter.mem_bytes(), backend.mem_used());
  OpReply u = sync<op::ModuleUnload>({1});
  ASSERT_TRUE(u.status.ok()) << u.status.text;
  EXPECT_EQ(meter.mem_bytes(), 0u);
  EXPECT_GT(meter.mem_peak(), 0u);
}

TEST_F(SimSession, FatbinLoadsToo) {
  load_module(3, RGPU_TEST_FATBIN);
  EXPECT_TRUE(get_function(3, 1, "vec_add").status.ok());
  // A corrupt image is refused with INVALID_IMAGE; the session goes on.
  std::vector<uint8_t> junk(256, 0x5A);
  EXPECT_EQ(sync<op::ModuleLoad>({4, 0}, junk.data(), junk.size()).status.code,
            CUDA_ERROR_INVALID_IMAGE);
  EXPECT_TRUE(sync<op::MemGetInfo>({0}).status.ok());
}

TEST_F(SimSession, FailedKernelIsSticky) {
  load_module(1, RGPU_TEST_CUBIN);
  ASSERT_TRUE(get_function(1, 7, "fail_kernel").status.ok());
  op::LaunchKernel::Args l{};
  l.function = 7;
  l.grid[0] = l.grid[1] = l.grid[2] = 1;
  l.block[0] = l.block[1] = l.block[2] = 1;
  l.param_bytes = 4;
  int one = 1;
  async<op::LaunchKernel>(l, &one, 4);
  EXPECT_EQ(sync<op::CtxSynchronize>({0}).status.code, CUDA_ERROR_LAUNCH_FAILED);
  EXPECT_EQ(sync<op::MemGetInfo>({0}).status.code, CUDA_ERROR_LAUNCH_FAILED);
  EXPECT_EQ(sync<op::MemAlloc>({64}).status.code, CUDA_ERROR_LAUNCH_FAILED);
}

}  // namespace

}  // namespace rgpu::server
