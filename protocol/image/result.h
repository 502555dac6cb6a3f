// protocol/image/result.h: the value-or-error type returned by every image parser.
//
// Contract: a Result<T> holds either a T or a non-empty error string, never both. Parsers in
// protocol/image/ never throw on bad input (they are called from the C ABI of libcuda.so.1);
// they return Result::fail("what was wrong"). Accessing value() on a failed Result is a
// programming error (asserted in debug builds).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace rgpu::image {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  static Result fail(std::string error) {
    Result r;
    r.error_ = error.empty() ? std::string("unknown error") : std::move(error);
    return r;
  }
  // Carries another Result's error over (for early returns of a different value type).
  template <typename U>
  static Result fail_from(const Result<U>& other) {
    return fail(other.error());
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const std::string& error() const { return error_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Result() = default;
  std::optional<T> value_;
  std::string error_;
};

}  // namespace rgpu::image
