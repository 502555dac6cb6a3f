/* interpose/proc_table.h - the generated (name, ABI version, variant) -> export table (C ABI).
 *
 * Contract: rgpu_proc_table (generated at build time by gen/gen_driver_table.py from the
 * toolkit's cudaTypedefs.h) lists every ABI version of every driver entry point, sorted by
 * name (strcmp order) then version then variant. `served` is 0 for generated stubs, which
 * return CUDA_ERROR_NOT_SUPPORTED via rgpu_unsupported_call() (logs the name once);
 * cuGetProcAddress reports those as not found.
 */
#ifndef RGPU_INTERPOSE_PROC_TABLE_H
#define RGPU_INTERPOSE_PROC_TABLE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rgpu_proc_variant { RGPU_VARIANT_PLAIN = 0, RGPU_VARIANT_PTDS = 1, RGPU_VARIANT_PTSZ = 2 };

struct rgpu_proc_entry {
  const char* name;        /* the name cuGetProcAddress is asked for, e.g. "cuMemAlloc" */
  int version;             /* the ABI version of this variant, e.g. 3020 */
  int variant;             /* enum rgpu_proc_variant */
  int served;              /* 0: a generated NOT_SUPPORTED stub */
  void* fn;                /* the exported symbol's address */
  const char* export_name; /* e.g. "cuMemAlloc_v2" */
};

extern const struct rgpu_proc_entry rgpu_proc_table[];
extern const size_t rgpu_proc_table_size;
extern const size_t rgpu_served_count;

struct rgpu_error_name {
  int value;
  const char* name; /* e.g. "CUDA_ERROR_INVALID_VALUE" */
};
extern const struct rgpu_error_name rgpu_error_names[];
extern const size_t rgpu_error_names_size;

/* Logs "rgpu: <name> is not supported" once per name (flag), returns CUDA_ERROR_NOT_SUPPORTED. */
int rgpu_unsupported_call(const char* name, int* once_flag);

#ifdef __cplusplus
}
#endif

#endif
