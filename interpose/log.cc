// interpose/log.cc — see log.h.
#include "interpose/log.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "interpose/proc_table.h"

namespace rgpu {
namespace {

LogLevel parse_level() {
  const char* v = getenv("RGPU_LOG");
  if (!v) return LogLevel::kWarn;
  if (!strcmp(v, "debug") || !strcmp(v, "trace")) return LogLevel::kDebug;
  if (!strcmp(v, "info")) return LogLevel::kInfo;
  if (!strcmp(v, "error")) return LogLevel::kError;
  return LogLevel::kWarn;
}

}  // namespace

LogLevel log_level() {
  static const LogLevel level = parse_level();
  return level;
}

void log_msg(LogLevel level, const char* fmt, ...) {
  if (level > log_level()) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "rgpu: %s\n", buf);
}

void trace_append(TraceBuf& b, const char* name, const char* text) {
  if (!b.empty()) b += ", ";
  b += name;
  b += '=';
  b += text;
}

void trace_call(const char* entry, EntryClass cls, const TraceBuf& args) {
  fprintf(stderr, "rgpu: call %s(%s) [%s]\n", entry, args.c_str(), entry_class_name(cls));
}

void trace_result(const char* entry, int result) {
  fprintf(stderr, "rgpu: %s -> %d\n", entry, result);
}

}  // namespace rgpu

extern "C" int rgpu_unsupported_call(const char* name, int* once_flag) {
  if (!__atomic_exchange_n(once_flag, 1, __ATOMIC_RELAXED)) {
    fprintf(stderr, "rgpu: %s is not supported\n", name);
  }
  if (rgpu::log_calls()) fprintf(stderr, "rgpu: call %s [unsupported]\n", name);
  return 801;  // CUDA_ERROR_NOT_SUPPORTED
}
