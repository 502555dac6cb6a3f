// interpose/dark_api.cc — see dark_api.h. The slot implementations and the table declarations.
#include "interpose/dark_api.h"

#include <pthread.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <utility>
#include <vector>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/integrity.h"
#include "interpose/log.h"

namespace rgpu {
namespace {

// --- CUDART_INTERFACE -----------------------------------------------------------------------
CUresult cudart_get_primary_ctx(CUcontext* pctx, CUdevice dev) {
  Client* c = state();
  if (!c) return check_init();
  if (!pctx) return CUDA_ERROR_INVALID_VALUE;
  if (dev < 0 || static_cast<size_t>(dev) >= c->devices.size()) return CUDA_ERROR_INVALID_DEVICE;
  *pctx = reinterpret_cast<CUcontext>(c->devices[static_cast<size_t>(dev)]->primary);
  return CUDA_SUCCESS;
}
CUresult cudart_module_from_wrapper(CUmodule* mod, const void* wrapper) {
  return api::cuModuleLoadData(mod, wrapper);
}
CUresult cudart_module_from_wrapper_ext1(CUmodule* mod, const void* wrapper, void*, void*,
                                         unsigned) {
  return api::cuModuleLoadData(mod, wrapper);
}
CUresult cudart_module_from_header_ext2(const void* header, CUmodule* mod, void*, void*, unsigned) {
  return api::cuModuleLoadData(mod, header);
}
CUresult cudart_fn7(size_t) {
  return CUDA_SUCCESS;
}
CUresult cudart_load_compilers() {
  return CUDA_SUCCESS;
}

// --- TOOLS_RUNTIME_CALLBACK_HOOKS -----------------------------------------------------------
uint32_t g_hook_buf1[1024];
uint32_t g_hook_buf2[14];
void hooks_buf1(void** buf, size_t* n) {
  *buf = g_hook_buf1;
  *n = 1024;
}
void hooks_buf2(void** buf, size_t* n) {
  *buf = g_hook_buf2;
  *n = 14;
}

// --- TOOLS_TLS ------------------------------------------------------------------------------
uintptr_t tools_tls_fn2(void*, uintptr_t, ...) {
  return 0;
}

// --- CONTEXT_LOCAL_STORAGE_INTERFACE_V0301 --------------------------------------------------
CUresult cls_put(CUcontext ctx, void* key, void* value, ClsDtor dtor) {
  if (log_calls()) RGPU_DEBUG("CLS put(ctx=%p, key=%p, value=%p)", (void*)ctx, key, value);
  Context* c = nullptr;
  CUresult r = resolve_context(ctx, &c);
  if (r != CUDA_SUCCESS) return r;
  state()->cls.put(c, key, value, dtor);
  return CUDA_SUCCESS;
}
// dark-api.md: del(ctx, key). Some drivers' callers pass (key, out); a first argument that is
// not a context is taken as the key of the current context.
CUresult cls_del(void* a, void* b) {
  if (log_calls()) RGPU_DEBUG("CLS delete(%p, %p)", a, b);
  Client* cl = state();
  if (!cl) return check_init();
  Context* c = nullptr;
  void* key = b;
  if (a && valid_context(*cl, a)) {
    c = static_cast<Context*>(a);
  } else {
    c = current_context();
    if (a) key = a;
  }
  if (!c) return CUDA_ERROR_INVALID_CONTEXT;
  return cl->cls.erase(c, key) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
CUresult cls_get(void** value, CUcontext ctx, void* key) {
  Context* c = nullptr;
  CUresult r = resolve_context(ctx, &c);
  if (r != CUDA_SUCCESS) return r == CUDA_ERROR_INVALID_CONTEXT ? CUDA_ERROR_INVALID_HANDLE : r;
  return state()->cls.get(c, key, value) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

// --- CONTEXT_CHECKS -------------------------------------------------------------------------
CUresult ctx_check(CUcontext, uint32_t* r1, const void** r2) {
  // Only *r1 is an output; r2 keeps what the caller put there (cudart reads it back later).
  if (r1) *r1 = 0;
  return CUDA_SUCCESS;
}
uint32_t ctx_check_fn3() {
  return 0;
}

// --- INTEGRITY_CHECK ------------------------------------------------------------------------
CUresult integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t out[2]);

// --- 21318C60 (cuBLASLt) --------------------------------------------------------------------
uintptr_t cublaslt_fn4(uintptr_t, void*, ...) {
  return 0;
}
// Observed with cuBLASLt 13.1, once per gemm launch: [51](?, CUstream, void** out) then
// [39](?, <what [51] wrote>, uint64_t* out); the first argument of both is not set by the caller.
// Neither is in ZLUDA; a public port reads them the same way. cuBLASLt needs both to succeed
// (an error makes cublasSgemm return CUBLAS_STATUS_INTERNAL_ERROR) and then launches normally
// on the stream it was given. [51] hands out an opaque per-process record (all zero) and [39]
// answers 0 for it; with [39] answering 1 cuBLASLt adds a cuEventQuery before its launch, so 0
// is the plain path.
struct OpaqueStreamRecord {
  uint64_t words[64];
};
OpaqueStreamRecord g_stream_record{};
CUresult cublaslt_fn51(void*, CUstream, void** out) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  *out = &g_stream_record;
  return CUDA_SUCCESS;
}
CUresult cublaslt_fn39(void*, const void* record, uint64_t* out) {
  if (!record || !out) return CUDA_ERROR_INVALID_VALUE;
  *out = 0;
  return CUDA_SUCCESS;
}

// --- the tables, declared once ----------------------------------------------------------------
struct Slot {
  int index;
  const void* fn;
};

template <typename F>
const void* fn_addr(F* f) {
  return reinterpret_cast<const void*>(f);
}

struct TableSpec {
  const char* uuid;  // as in the GUID string; bytes are taken in that order
  const char* name;
  int slots;
  bool size_header;
  std::vector<Slot> entries;
};

constexpr size_t kTableCount = 7;  // entries in table_specs()

const std::vector<TableSpec>& table_specs() {
  static const std::vector<TableSpec>& specs = *new std::vector<TableSpec>{
      {"6BD5FB6C-5BF4-E74A-8987-D93912FD9DF9",
       "CUDART_INTERFACE",
       13,
       true,
       {{1, fn_addr(cudart_module_from_wrapper)},
        {2, fn_addr(cudart_get_primary_ctx)},
        {6, fn_addr(cudart_module_from_wrapper_ext1)},
        {7, fn_addr(cudart_fn7)},
        {8, fn_addr(cudart_module_from_header_ext2)},
        {12, fn_addr(cudart_load_compilers)}}},
      {"A094798C-2E74-2E74-93F2-0800200C0A66",
       "TOOLS_RUNTIME_CALLBACK_HOOKS",
       7,
       true,
       {{2, fn_addr(hooks_buf1)}, {6, fn_addr(hooks_buf2)}}},
      {"42D85A81-23F6-CB47-8298-F6E78A3AECDC", "TOOLS_TLS", 4, true, {{2, fn_addr(tools_tls_fn2)}}},
      {"C693336E-1121-DF11-A8C3-68F355D89593",
       "CONTEXT_LOCAL_STORAGE_INTERFACE_V0301",
       4,
       false,
       {{0, fn_addr(cls_put)}, {1, fn_addr(cls_del)}, {2, fn_addr(cls_get)}}},
      {"263E8860-7CD2-6143-92F6-BBD5006DFA7E",
       "CONTEXT_CHECKS",
       4,
       true,
       {{2, fn_addr(ctx_check)}, {3, fn_addr(ctx_check_fn3)}}},
      {"D4082055-BDE6-704B-8D34-BA123C66E1F2",
       "INTEGRITY_CHECK",
       3,
       true,
       {{1, fn_addr(integrity_check)}}},
      {"21318C60-9714-3248-8CA6-41FF7324C8F2",
       "CUBLASLT_21318C60",
       95,
       true,
       {{4, fn_addr(cublaslt_fn4)}, {39, fn_addr(cublaslt_fn39)}, {51, fn_addr(cublaslt_fn51)}}},
  };
  return specs;
}

bool parse_uuid(const char* s, uint8_t out[16]) {
  int n = 0;
  for (const char* p = s; *p && n < 32; ++p) {
    if (*p == '-') continue;
    int v = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
    if (v < 0) return false;
    if (n % 2 == 0)
      out[n / 2] = static_cast<uint8_t>(v << 4);
    else
      out[n / 2] |= static_cast<uint8_t>(v);
    ++n;
  }
  return n == 32;
}

// Every slot no table entry names is one of these: it logs once, by table and slot, and returns
// CUDA_ERROR_NOT_SUPPORTED (801) in the return register, so a caller that checks a CUresult sees
// a clear error and none jumps through NULL. The callers' signatures are unknown; in the SysV
// ABI a function that ignores its arguments may be called with any of them.
constexpr size_t kMaxSlots = 128;

template <size_t T, size_t S>
CUresult unknown_slot() {
  static std::atomic<bool> logged{false};
  if (!logged.exchange(true, std::memory_order_relaxed))
    RGPU_WARN("export table %s slot %zu called, not supported", table_specs()[T].name, S);
  return CUDA_ERROR_NOT_SUPPORTED;
}

template <size_t T, size_t... S>
std::array<const void*, kMaxSlots> unknown_slots_of(std::index_sequence<S...>) {
  return {fn_addr(&unknown_slot<T, S>)...};
}

template <size_t... T>
std::array<std::array<const void*, kMaxSlots>, sizeof...(T)> all_unknown_slots(
    std::index_sequence<T...>) {
  return {unknown_slots_of<T>(std::make_index_sequence<kMaxSlots>())...};
}

struct BuiltTable {
  uint8_t uuid[16];
  const char* name;
  std::vector<const void*> slots;
};

// Built once and never destroyed: cudart's exit handlers call table slots after this
// library's static destructors would have run.
std::vector<BuiltTable>& built_tables() {
  static std::vector<BuiltTable>* tables = [] {
    const auto unknown = all_unknown_slots(std::make_index_sequence<kTableCount>());
    auto* out = new std::vector<BuiltTable>();
    const auto& specs = table_specs();
    for (size_t i = 0; i < specs.size(); ++i) {
      const TableSpec& s = specs[i];
      if (i >= kTableCount || s.slots < 1 || static_cast<size_t>(s.slots) > kMaxSlots) {
        RGPU_ERR("export table %s: bad declaration (raise kTableCount/kMaxSlots)", s.name);
        std::abort();
      }
      BuiltTable t;
      parse_uuid(s.uuid, t.uuid);
      t.name = s.name;
      t.slots.assign(unknown[i].begin(), unknown[i].begin() + s.slots);
      if (s.size_header) {
        t.slots[0] = reinterpret_cast<const void*>(sizeof(void*) * static_cast<size_t>(s.slots));
      }
      for (const Slot& e : s.entries) t.slots[static_cast<size_t>(e.index)] = e.fn;
      out->push_back(std::move(t));
    }
    return out;
  }();
  return *tables;
}

const void* table_named(const char* name) {
  for (BuiltTable& t : built_tables()) {
    if (!strcmp(t.name, name)) return t.slots.data();
  }
  return nullptr;
}

CUresult integrity_check(uint32_t version, uint64_t unix_seconds, uint64_t out[2]) {
  if (!out) return CUDA_ERROR_INVALID_VALUE;
  IntegrityInput in{};
  in.driver_version = static_cast<uint32_t>(kDriverVersion);
  in.version = version;
  in.pid = static_cast<uint32_t>(getpid());
  in.thread = static_cast<uint32_t>(pthread_self());
  in.cudart_table = cudart_interface_table();
  in.integrity_table = integrity_check_table();
  in.fn_address = fn_addr(integrity_check);
  in.unix_seconds = unix_seconds;
  std::vector<IntegrityDevice> devs;
  if (Client* c = state()) {
    for (auto& d : c->devices) {
      IntegrityDevice id{};
      memcpy(id.uuid, d->props.uuid, 16);
      id.pci_domain = d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID];
      id.pci_bus = d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID];
      id.pci_device = d->props.attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID];
      devs.push_back(id);
    }
  }
  integrity_hash(in, devs, out);
  return CUDA_SUCCESS;
}

}  // namespace

const void* cudart_interface_table() {
  return table_named("CUDART_INTERFACE");
}
const void* integrity_check_table() {
  return table_named("INTEGRITY_CHECK");
}

const void* find_export_table(const CUuuid* id, const char** name) {
  for (BuiltTable& t : built_tables()) {
    if (!memcmp(t.uuid, id->bytes, 16)) {
      if (name) *name = t.name;
      return t.slots.data();
    }
  }
  return nullptr;
}

}  // namespace rgpu
