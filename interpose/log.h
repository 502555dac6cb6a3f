// interpose/log.h — what libcuda.so.1 prints, and RGPU_LOG=debug call tracing.
//
// Contract: messages go to stderr prefixed "rgpu: ". RGPU_LOG=debug traces every entry point
// with its arguments (log_calls() is one relaxed load when off); RGPU_LOG=error (default:
// warn) keeps only errors. Thread-safe; never allocates when tracing is off.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "interpose/entry_class.h"

namespace rgpu {

enum class LogLevel : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

LogLevel log_level();
inline bool log_calls() {
  return log_level() >= LogLevel::kDebug;
}

void log_msg(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
#define RGPU_ERR(...) ::rgpu::log_msg(::rgpu::LogLevel::kError, __VA_ARGS__)
#define RGPU_WARN(...) ::rgpu::log_msg(::rgpu::LogLevel::kWarn, __VA_ARGS__)
#define RGPU_INFO(...) ::rgpu::log_msg(::rgpu::LogLevel::kInfo, __VA_ARGS__)
#define RGPU_DEBUG(...) ::rgpu::log_msg(::rgpu::LogLevel::kDebug, __VA_ARGS__)

using TraceBuf = std::string;

void trace_append(TraceBuf& b, const char* name, const char* text);
template <typename T>
void trace_arg(TraceBuf& b, const char* name, T v) {
  char tmp[64];
  if constexpr (std::is_pointer_v<T>) {
    snprintf(tmp, sizeof tmp, "%p", (const void*)v);
  } else if constexpr (std::is_floating_point_v<T>) {
    snprintf(tmp, sizeof tmp, "%g", (double)v);
  } else if constexpr (std::is_class_v<T>) {  // a struct passed by value (CUmemLocation)
    snprintf(tmp, sizeof tmp, "{%zu bytes}", sizeof(T));
  } else if constexpr (std::is_enum_v<T>) {
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  } else if constexpr (sizeof(T) >= 8) {
    snprintf(tmp, sizeof tmp, "0x%llx", (unsigned long long)v);
  } else if constexpr (std::is_signed_v<T>) {
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  } else {
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  }
  trace_append(b, name, tmp);
}
inline void trace_arg(TraceBuf& b, const char* name, const char* s) {
  trace_append(b, name, s ? s : "(null)");
}

void trace_call(const char* entry, EntryClass cls, const TraceBuf& args);
void trace_result(const char* entry, int result);

}  // namespace rgpu
