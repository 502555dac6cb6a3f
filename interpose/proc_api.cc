// interpose/proc_api.cc — cuInit, cuDriverGetVersion, cuGetProcAddress, cuGetExportTable and
// the error strings: the entry points that work before (or without) any server.
//
// cuGetProcAddress contract: among the generated table's rows for `symbol`, pick the variant
// with the highest ABI version <= the requested one; with CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_
// STREAM (2) prefer the _ptds/_ptsz row when one exists at that version or below. A stub row
// (not served) is reported as CUDA_ERROR_NOT_FOUND / CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND; a name
// whose first version is newer than requested is VERSION_NOT_SUFFICIENT.
#include <cstring>
#include <string_view>

#include "interpose/api.h"
#include "interpose/client.h"
#include "interpose/dark_api.h"
#include "interpose/log.h"
#include "interpose/proc_table.h"

namespace rgpu::api {
namespace {

CUresult resolve_proc(const char* symbol, void** pfn, int version, cuuint64_t flags,
                      CUdriverProcAddressQueryResult* found) {
  if (found) *found = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  if (!symbol || !pfn) return CUDA_ERROR_INVALID_VALUE;
  *pfn = nullptr;
  if (flags & ~cuuint64_t{3}) return CUDA_ERROR_INVALID_VALUE;
  const bool per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
  // Binary search for the first row of `symbol`.
  size_t lo = 0, hi = rgpu_proc_table_size;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (strcmp(rgpu_proc_table[mid].name, symbol) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  const rgpu_proc_entry* plain = nullptr;
  const rgpu_proc_entry* pt = nullptr;
  bool any = false;
  for (size_t i = lo; i < rgpu_proc_table_size && !strcmp(rgpu_proc_table[i].name, symbol); ++i) {
    const rgpu_proc_entry& e = rgpu_proc_table[i];
    any = true;
    if (e.version > version) continue;
    if (e.variant == RGPU_VARIANT_PLAIN)
      plain = &e;
    else
      pt = &e;
  }
  if (!any) return CUDA_ERROR_NOT_FOUND;
  const rgpu_proc_entry* pick = (per_thread && pt) ? pt : plain;
  if (!pick) {
    if (found) *found = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
    return CUDA_ERROR_NOT_FOUND;
  }
  if (!pick->served) return CUDA_ERROR_NOT_FOUND;
  *pfn = pick->fn;
  if (found) *found = CU_GET_PROC_ADDRESS_SUCCESS;
  if (log_calls())
    RGPU_DEBUG("  %s@%d flags=%llu -> %s", symbol, version, (unsigned long long)flags,
               pick->export_name);
  return CUDA_SUCCESS;
}

const char* error_name(CUresult e) {
  for (size_t i = 0; i < rgpu_error_names_size; ++i) {
    if (rgpu_error_names[i].value == static_cast<int>(e)) return rgpu_error_names[i].name;
  }
  return nullptr;
}

}  // namespace

CUresult cuInit(unsigned int Flags) {
  return init(Flags);
}

CUresult cuDriverGetVersion(int* driverVersion) {
  if (!driverVersion) return CUDA_ERROR_INVALID_VALUE;
  *driverVersion = kDriverVersion;
  return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult error, const char** pStr) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  *pStr = error_name(error);
  return *pStr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char** pStr) {
  if (!pStr) return CUDA_ERROR_INVALID_VALUE;
  switch (error) {
    case CUDA_SUCCESS:
      *pStr = "no error";
      return CUDA_SUCCESS;
    case CUDA_ERROR_NOT_SUPPORTED:
      *pStr = "operation not supported (by rgpu)";
      return CUDA_SUCCESS;
    case CUDA_ERROR_NO_DEVICE:
      *pStr = "no CUDA-capable device is detected (rgpu: check RGPU_SERVER)";
      return CUDA_SUCCESS;
    case CUDA_ERROR_DEVICE_UNAVAILABLE:
      *pStr = "CUDA-capable device(s) is/are busy or unavailable (rgpu: server connection lost)";
      return CUDA_SUCCESS;
    default:
      break;
  }
  *pStr = error_name(error);
  return *pStr ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetProcAddress(const char* symbol, void** pfn, int driverVersion, cuuint64_t flags) {
  return resolve_proc(symbol, pfn, driverVersion, flags, nullptr);
}

CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int driverVersion, cuuint64_t flags,
                             CUdriverProcAddressQueryResult* symbolFound) {
  return resolve_proc(symbol, pfn, driverVersion, flags, symbolFound);
}

CUresult cuGetExportTable(const void** ppExportTable, const CUuuid* pExportTableId) {
  if (!ppExportTable || !pExportTableId) return CUDA_ERROR_INVALID_VALUE;
  const char* name = nullptr;
  *ppExportTable = find_export_table(pExportTableId, &name);
  if (!*ppExportTable) {
    if (log_calls()) {
      const auto* b = reinterpret_cast<const uint8_t*>(pExportTableId->bytes);
      RGPU_DEBUG("  export table %02X%02X%02X%02X-... not served", b[0], b[1], b[2], b[3]);
    }
    return CUDA_ERROR_NOT_SUPPORTED;
  }
  if (log_calls()) RGPU_DEBUG("  export table %s", name);
  return CUDA_SUCCESS;
}

}  // namespace rgpu::api
