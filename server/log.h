// server/log.h — rgpu-server's log lines on stderr.
//
// Contract: one line per call, "rgpu-server[pid] LEVEL: text", written with a single write so
// lines from the supervisor and its workers do not interleave mid-line. Lines below the level
// set with set_log_level() are dropped. printf-style formatting.
#pragma once

#include <string>

namespace rgpu::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn", "error"; false for anything else.
bool parse_log_level(const std::string& s, LogLevel* out);
void set_log_level(LogLevel l);
// A tag after the pid, e.g. "worker s7".
void set_log_tag(const std::string& tag);

void log_at(LogLevel l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) ::rgpu::server::log_at(::rgpu::server::LogLevel::kDebug, __VA_ARGS__)
#define log_info(...) ::rgpu::server::log_at(::rgpu::server::LogLevel::kInfo, __VA_ARGS__)
#define log_warn(...) ::rgpu::server::log_at(::rgpu::server::LogLevel::kWarn, __VA_ARGS__)
#define log_error(...) ::rgpu::server::log_at(::rgpu::server::LogLevel::kError, __VA_ARGS__)

}  // namespace rgpu::server
