// interpose/spec/spec_macros.h — preprocessor machinery that turns entry_points.def into code.
//
// Contract: each P_* parameter kind expands to a tuple (kind, type, name, size-doc). The
// RGPU_SPEC_* helpers map a list of those tuples to a declaration list, an argument list, the
// per-parameter type checks (a raw pointer declared P_VAL, or a non-pointer declared as a
// pointer kind, fails the build), the NULL checks of P_OUT parameters (a NULL one makes the
// entry return CUDA_ERROR_INVALID_VALUE before its implementation runs; P_OUT_OPT may be NULL)
// and the RGPU_LOG=debug trace of the arguments.
#pragma once

#include <type_traits>

#define P_VAL(t, n) (RGPU_K_VAL, t, n, -)
#define P_HANDLE(t, n) (RGPU_K_HANDLE, t, n, -)
#define P_IN(t, n, count) (RGPU_K_PTR, t, n, count)
#define P_OUT(t, n, count) (RGPU_K_OUT, t, n, count)
#define P_OUT_OPT(t, n, count) (RGPU_K_PTR, t, n, count)
#define P_HOST(t, n, bytes) (RGPU_K_PTR, t, n, bytes)
#define P_STR(n) (RGPU_K_STR, const char*, n, strlen)
#define P_KPARAMS(n) (RGPU_K_PTR, void**, n, layout)
#define P_EXTRA(n) (RGPU_K_PTR, void**, n, launch_param_list)

// for-each over a variadic list (C++20 __VA_OPT__), up to 256 elements.
#define RGPU_PARENS ()
#define RGPU_EXPAND(...) RGPU_EXPAND4(RGPU_EXPAND4(RGPU_EXPAND4(RGPU_EXPAND4(__VA_ARGS__))))
#define RGPU_EXPAND4(...) RGPU_EXPAND3(RGPU_EXPAND3(RGPU_EXPAND3(RGPU_EXPAND3(__VA_ARGS__))))
#define RGPU_EXPAND3(...) RGPU_EXPAND2(RGPU_EXPAND2(RGPU_EXPAND2(RGPU_EXPAND2(__VA_ARGS__))))
#define RGPU_EXPAND2(...) RGPU_EXPAND1(RGPU_EXPAND1(RGPU_EXPAND1(RGPU_EXPAND1(__VA_ARGS__))))
#define RGPU_EXPAND1(...) __VA_ARGS__

#define RGPU_FOR_EACH(m, ...) __VA_OPT__(RGPU_EXPAND(RGPU_FOR_EACH_H(m, __VA_ARGS__)))
#define RGPU_FOR_EACH_H(m, a, ...) m(a) __VA_OPT__(RGPU_FOR_EACH_A RGPU_PARENS(m, __VA_ARGS__))
#define RGPU_FOR_EACH_A() RGPU_FOR_EACH_H

#define RGPU_FOR_EACH_COMMA(m, ...) __VA_OPT__(RGPU_EXPAND(RGPU_FOR_EACH_C(m, __VA_ARGS__)))
#define RGPU_FOR_EACH_C(m, a, ...) m(a) __VA_OPT__(, RGPU_FOR_EACH_CA RGPU_PARENS(m, __VA_ARGS__))
#define RGPU_FOR_EACH_CA() RGPU_FOR_EACH_C

#define RGPU_SPEC_UNPAREN(...) __VA_ARGS__

// Accessors applied to one tuple p as `RGPU_SPEC_DECL p`.
#define RGPU_SPEC_DECL_(k, t, n, s) t n
#define RGPU_SPEC_NAME_(k, t, n, s) n
#define RGPU_SPEC_CHECK_(k, t, n, s) k##_CHECK(t, n)
#define RGPU_SPEC_TRACE_(k, t, n, s) ::rgpu::trace_arg(trace_, #n, n);
#define RGPU_SPEC_NULL_(k, t, n, s) k##_NULL(n)
#define RGPU_SPEC_DECL(p) RGPU_SPEC_DECL_ p
#define RGPU_SPEC_NAME(p) RGPU_SPEC_NAME_ p
#define RGPU_SPEC_CHECK(p) RGPU_SPEC_CHECK_ p
#define RGPU_SPEC_TRACE(p) RGPU_SPEC_TRACE_ p
#define RGPU_SPEC_NULL(p) RGPU_SPEC_NULL_ p

#define RGPU_K_VAL_CHECK(t, n) \
  static_assert(!std::is_pointer_v<t>, #n ": a pointer parameter needs a direction and a size");
#define RGPU_K_HANDLE_CHECK(t, n) static_assert(std::is_pointer_v<t>, #n ": handles are pointers");
#define RGPU_K_PTR_CHECK(t, n) static_assert(std::is_pointer_v<t>, #n ": declared as a pointer");
#define RGPU_K_OUT_CHECK(t, n) static_assert(std::is_pointer_v<t>, #n ": declared as a pointer");
// The NULL check each kind makes: only P_OUT's (null_out_ names the first NULL output).
#define RGPU_K_VAL_NULL(n)
#define RGPU_K_HANDLE_NULL(n)
#define RGPU_K_PTR_NULL(n)
#define RGPU_K_STR_NULL(n)
#define RGPU_K_OUT_NULL(n) \
  if (n == nullptr && null_out_ == nullptr) null_out_ = #n;
#define RGPU_K_STR_CHECK(t, n) static_assert(std::is_same_v<t, const char*>);

// Expands a parenthesized parameter list into the pieces above.
#define RGPU_SPEC_DECLS(params) RGPU_SPEC_DECLS_I(RGPU_SPEC_UNPAREN params)
#define RGPU_SPEC_DECLS_I(...) RGPU_FOR_EACH_COMMA(RGPU_SPEC_DECL, __VA_ARGS__)
#define RGPU_SPEC_NAMES(params) RGPU_SPEC_NAMES_I(RGPU_SPEC_UNPAREN params)
#define RGPU_SPEC_NAMES_I(...) RGPU_FOR_EACH_COMMA(RGPU_SPEC_NAME, __VA_ARGS__)
#define RGPU_SPEC_CHECKS(params) RGPU_SPEC_CHECKS_I(RGPU_SPEC_UNPAREN params)
#define RGPU_SPEC_CHECKS_I(...) RGPU_FOR_EACH(RGPU_SPEC_CHECK, __VA_ARGS__)
#define RGPU_SPEC_NULLS(params) RGPU_SPEC_NULLS_I(RGPU_SPEC_UNPAREN params)
#define RGPU_SPEC_NULLS_I(...) RGPU_FOR_EACH(RGPU_SPEC_NULL, __VA_ARGS__)
#define RGPU_SPEC_TRACES(params) RGPU_SPEC_TRACES_I(RGPU_SPEC_UNPAREN params)
#define RGPU_SPEC_TRACES_I(...) RGPU_FOR_EACH(RGPU_SPEC_TRACE, __VA_ARGS__)
