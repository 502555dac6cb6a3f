// server/backend/fault_guard.h — runs host code that may touch memory it must not (a sim
// plugin's kernel given a bad pointer) so that a memory fault fails that call, not the worker.
//
// Contract:
// - call_catching_faults(fn, arg, &rc, &addr) calls fn(arg) on this thread. If fn returns, it is
//   true with *rc = fn's result. If fn faults (SIGSEGV or SIGBUS raised by the hardware: an
//   unmapped or protected address, a stack overflow), it is false with *addr = the faulting
//   address: the thread jumps back out of fn (siglongjmp), skipping fn's remaining frames, so
//   whatever fn held (locks, heap it meant to free) is abandoned. Callers treat the state fn
//   could reach as dead, as CUDA does after CUDA_ERROR_ILLEGAL_ADDRESS (a sticky error).
// - Only hardware faults inside fn are caught. A fault anywhere else, or a SIGSEGV sent with
//   kill()/raise(), still ends the process as before (the previous disposition is restored and
//   the signal re-raised), so a crash stays a crash.
// - The handler runs on a per-thread alternate signal stack (made on first use), so a stack
//   overflow in fn is caught too. Not for fn that expects to handle SIGSEGV itself.
#pragma once

#include <cstdint>

namespace rgpu::server {

bool call_catching_faults(int (*fn)(const void*), const void* arg, int* rc, uintptr_t* addr);

}  // namespace rgpu::server
