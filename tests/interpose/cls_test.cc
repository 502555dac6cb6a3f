// tests/interpose/cls_test.cc — context-local storage: put/get/delete and destructors on
// context teardown; and the exported tables' shapes.
#include <gtest/gtest.h>

#include <cstring>

#include "interpose/cls.h"
#include "tests/interpose/shim_loader.h"

namespace rgpu {
namespace {

struct DtorLog {
  int calls = 0;
  void* ctx = nullptr;
  void* key = nullptr;
  void* value = nullptr;
};
DtorLog g_log;

void record_dtor(void* ctx, void* key, void* value) {
  g_log.calls++;
  g_log.ctx = ctx;
  g_log.key = key;
  g_log.value = value;
}

TEST(Cls, PutGetDelete) {
  ClsStore s;
  int ctx1, ctx2, key, v1, v2;
  void* out = nullptr;
  EXPECT_FALSE(s.get(&ctx1, &key, &out));
  s.put(&ctx1, &key, &v1, nullptr);
  s.put(&ctx2, &key, &v2, nullptr);
  ASSERT_TRUE(s.get(&ctx1, &key, &out));
  EXPECT_EQ(out, &v1);
  ASSERT_TRUE(s.get(&ctx2, &key, &out));
  EXPECT_EQ(out, &v2);
  s.put(&ctx1, &key, &v2, nullptr);  // replace
  ASSERT_TRUE(s.get(&ctx1, &key, &out));
  EXPECT_EQ(out, &v2);
  EXPECT_TRUE(s.erase(&ctx1, &key));
  EXPECT_FALSE(s.get(&ctx1, &key, &out));
  EXPECT_FALSE(s.erase(&ctx1, &key));
  EXPECT_TRUE(s.get(&ctx2, &key, &out));
}

TEST(Cls, DestructorsRunOnContextTeardownOnly) {
  ClsStore s;
  int ctx1, ctx2, key1, key2, v1, v2;
  g_log = {};
  s.put(&ctx1, &key1, &v1, record_dtor);
  s.put(&ctx1, &key2, &v2, record_dtor);
  s.put(&ctx2, &key1, &v2, record_dtor);
  EXPECT_TRUE(s.erase(&ctx1, &key2));  // delete does not run the destructor
  EXPECT_EQ(g_log.calls, 0);
  s.destroy_context(&ctx1);
  EXPECT_EQ(g_log.calls, 1);
  EXPECT_EQ(g_log.ctx, &ctx1);
  EXPECT_EQ(g_log.key, &key1);
  EXPECT_EQ(g_log.value, &v1);
  void* out;
  EXPECT_FALSE(s.get(&ctx1, &key1, &out));
  EXPECT_TRUE(s.get(&ctx2, &key1, &out));  // other contexts untouched
  s.destroy_context(&ctx1);                // nothing left: no second call
  EXPECT_EQ(g_log.calls, 1);
}

CUuuid uuid(const uint8_t (&b)[16]) {
  CUuuid u;
  memcpy(u.bytes, b, 16);
  return u;
}

TEST(ExportTables, ShapesAsCudartExpects) {
  auto get = test::sym<PFN_cuGetExportTable_v3000>("cuGetExportTable");
  ASSERT_NE(get, nullptr);
  struct Want {
    uint8_t id[16];
    size_t size_header;  // 0: no header
    int slot;            // a slot that must be set
  } wants[] = {
      {{0x6B, 0xD5, 0xFB, 0x6C, 0x5B, 0xF4, 0xE7, 0x4A, 0x89, 0x87, 0xD9, 0x39, 0x12, 0xFD, 0x9D,
        0xF9},
       13 * 8,
       2},
      {{0xA0, 0x94, 0x79, 0x8C, 0x2E, 0x74, 0x2E, 0x74, 0x93, 0xF2, 0x08, 0x00, 0x20, 0x0C, 0x0A,
        0x66},
       7 * 8,
       6},
      {{0x42, 0xD8, 0x5A, 0x81, 0x23, 0xF6, 0xCB, 0x47, 0x82, 0x98, 0xF6, 0xE7, 0x8A, 0x3A, 0xEC,
        0xDC},
       4 * 8,
       2},
      {{0xC6, 0x93, 0x33, 0x6E, 0x11, 0x21, 0xDF, 0x11, 0xA8, 0xC3, 0x68, 0xF3, 0x55, 0xD8, 0x95,
        0x93},
       0,
       2},
      {{0x26, 0x3E, 0x88, 0x60, 0x7C, 0xD2, 0x61, 0x43, 0x92, 0xF6, 0xBB, 0xD5, 0x00, 0x6D, 0xFA,
        0x7E},
       4 * 8,
       3},
      {{0x21, 0x31, 0x8C, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8C, 0xA6, 0x41, 0xFF, 0x73, 0x24, 0xC8,
        0xF2},
       95 * 8,
       4},
  };
  for (const Want& w : wants) {
    CUuuid id = uuid(w.id);
    const void* t = nullptr;
    ASSERT_EQ(get(&t, &id), CUDA_SUCCESS);
    auto slots = static_cast<const void* const*>(t);
    if (w.size_header) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(slots[0]), w.size_header);
    }
    EXPECT_NE(slots[w.slot], nullptr);
  }
  // TOOLS_TLS[2] and 21318C60[4] return 0 (cuBLASLt relies on it).
  CUuuid tls = uuid(wants[2].id), lt = uuid(wants[5].id);
  const void* t = nullptr;
  ASSERT_EQ(get(&t, &tls), CUDA_SUCCESS);
  void* out = nullptr;
  auto fn = reinterpret_cast<uintptr_t (*)(void*, uintptr_t)>(
      const_cast<void*>(static_cast<const void* const*>(t)[2]));
  EXPECT_EQ(fn(&out, 0x37), 0u);
  ASSERT_EQ(get(&t, &lt), CUDA_SUCCESS);
  auto fn4 = reinterpret_cast<uintptr_t (*)(uintptr_t, void*)>(
      const_cast<void*>(static_cast<const void* const*>(t)[4]));
  EXPECT_EQ(fn4(0, &out), 0u);
  // An unknown table is refused with NULL.
  const uint8_t unknown[16] = {1, 2, 3};
  CUuuid u = uuid(unknown);
  t = reinterpret_cast<const void*>(1);
  EXPECT_EQ(get(&t, &u), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(t, nullptr);
  // CLS get before init: an error, not a crash.
  CUuuid cls_id = uuid(wants[3].id);
  ASSERT_EQ(get(&t, &cls_id), CUDA_SUCCESS);
  auto cls_get = reinterpret_cast<CUresult (*)(void**, CUcontext, void*)>(
      const_cast<void*>(static_cast<const void* const*>(t)[2]));
  EXPECT_NE(cls_get(&out, nullptr, &out), CUDA_SUCCESS);
}

// No slot of any table is NULL: an unknown slot is a stub that returns CUDA_ERROR_NOT_SUPPORTED
// (and logs once); 21318C60[51] and [39] answer as cuBLASLt needs (interpose/dark_api.cc).
TEST(ExportTables, NoSlotIsNull) {
  auto get = test::sym<PFN_cuGetExportTable_v3000>("cuGetExportTable");
  ASSERT_NE(get, nullptr);
  struct Table {
    uint8_t id[16];
    size_t slots;
    bool size_header;
  } tables[] = {
      {{0x6B, 0xD5, 0xFB, 0x6C, 0x5B, 0xF4, 0xE7, 0x4A, 0x89, 0x87, 0xD9, 0x39, 0x12, 0xFD, 0x9D,
        0xF9},
       13,
       true},
      {{0xA0, 0x94, 0x79, 0x8C, 0x2E, 0x74, 0x2E, 0x74, 0x93, 0xF2, 0x08, 0x00, 0x20, 0x0C, 0x0A,
        0x66},
       7,
       true},
      {{0x42, 0xD8, 0x5A, 0x81, 0x23, 0xF6, 0xCB, 0x47, 0x82, 0x98, 0xF6, 0xE7, 0x8A, 0x3A, 0xEC,
        0xDC},
       4,
       true},
      {{0xC6, 0x93, 0x33, 0x6E, 0x11, 0x21, 0xDF, 0x11, 0xA8, 0xC3, 0x68, 0xF3, 0x55, 0xD8, 0x95,
        0x93},
       4,
       false},
      {{0x26, 0x3E, 0x88, 0x60, 0x7C, 0xD2, 0x61, 0x43, 0x92, 0xF6, 0xBB, 0xD5, 0x00, 0x6D, 0xFA,
        0x7E},
       4,
       true},
      {{0xD4, 0x08, 0x20, 0x55, 0xBD, 0xE6, 0x70, 0x4B, 0x8D, 0x34, 0xBA, 0x12, 0x3C, 0x66, 0xE1,
        0xF2},
       3,
       true},
      {{0x21, 0x31, 0x8C, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8C, 0xA6, 0x41, 0xFF, 0x73, 0x24, 0xC8,
        0xF2},
       95,
       true},
  };
  for (const Table& tb : tables) {
    CUuuid id = uuid(tb.id);
    const void* t = nullptr;
    ASSERT_EQ(get(&t, &id), CUDA_SUCCESS);
    auto slots = static_cast<const void* const*>(t);
    for (size_t i = tb.size_header ? 1 : 0; i < tb.slots; ++i)
      EXPECT_NE(slots[i], nullptr) << "table " << int(tb.id[0]) << " slot " << i;
  }
  CUuuid lt = uuid(tables[6].id);
  const void* t = nullptr;
  ASSERT_EQ(get(&t, &lt), CUDA_SUCCESS);
  auto slots = static_cast<const void* const*>(t);
  // An unknown slot: a clear error, and distinct stubs per slot.
  auto unknown = reinterpret_cast<CUresult (*)()>(const_cast<void*>(slots[50]));
  EXPECT_EQ(unknown(), CUDA_ERROR_NOT_SUPPORTED);
  EXPECT_NE(slots[50], slots[52]);
  // [51] hands out a record, [39] answers 0 for it.
  auto fn51 = reinterpret_cast<CUresult (*)(void*, CUstream, void**)>(const_cast<void*>(slots[51]));
  auto fn39 =
      reinterpret_cast<CUresult (*)(void*, const void*, uint64_t*)>(const_cast<void*>(slots[39]));
  void* record = nullptr;
  ASSERT_EQ(fn51(nullptr, nullptr, &record), CUDA_SUCCESS);
  EXPECT_NE(record, nullptr);
  EXPECT_EQ(fn51(nullptr, nullptr, nullptr), CUDA_ERROR_INVALID_VALUE);
  uint64_t v = 7;
  EXPECT_EQ(fn39(nullptr, record, &v), CUDA_SUCCESS);
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(fn39(nullptr, record, nullptr), CUDA_ERROR_INVALID_VALUE);
}

}  // namespace
}  // namespace rgpu
