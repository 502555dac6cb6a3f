// cli/output.h — how `rgpu` prints: aligned tables for people, JSON for scripts.
//
// Contract: Table prints a header row and left-aligned columns; Json builds one object or array
// with correctly escaped strings. Neither reorders rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rgpu::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print() const;
  size_t size() const { return rows_.size() - 1; }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Minimal JSON writer: obj()/arr() open, end() closes, key() names the next value.
class Json {
 public:
  Json& obj();
  Json& arr();
  Json& end();
  Json& key(const std::string& k);
  Json& str(const std::string& v);
  Json& num(double v);
  Json& num(int64_t v);
  Json& num(uint64_t v);
  Json& num(uint32_t v) { return num(uint64_t{v}); }
  Json& boolean(bool v);
  std::string text() const { return out_; }
  void print() const;

 private:
  void sep();
  void quote(const std::string& v);
  std::string out_;
  std::vector<char> close_;
  std::vector<bool> first_{true};
  bool after_key_ = false;
};

std::string human_time(int64_t unix_s);  // "2026-11-22 03:52:01" local, "-" for 0
std::string gib(uint64_t bytes);         // "16.0 GiB"
// "24h", "7d", "90m", "3600s" ago, or a local date "YYYY-MM-DD", as unix s; "" is 0; -1 when
// it is neither.
int64_t parse_since(const std::string& s);

}  // namespace rgpu::cli
