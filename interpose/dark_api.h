// interpose/dark_api.h — the export tables (cuGetExportTable) served in-process.
//
// Contract: each table is declared once in dark_api.cc as (UUID, name, slot count, whether slot
// 0 holds the size in bytes, {slot -> function}). No slot is NULL: every unlisted slot is a
// generated function that logs "export table <name> slot <n> called, not supported" once and
// returns CUDA_ERROR_NOT_SUPPORTED. find_export_table() returns the table's address (stable for
// the process) or null for an unknown UUID.
// See /work/shared/reference/dark-api.md §3 for what cudart and cuBLASLt call.
#pragma once

#include "interpose/cuda_api.h"

namespace rgpu {

const void* find_export_table(const CUuuid* id, const char** name = nullptr);

// Table addresses the integrity hash covers.
const void* cudart_interface_table();
const void* integrity_check_table();

}  // namespace rgpu
