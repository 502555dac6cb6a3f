// server/backend/fault_guard.cc — see fault_guard.h.
#include "server/backend/fault_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <cstdlib>
#include <mutex>

namespace rgpu::server {
namespace {

thread_local sigjmp_buf* t_jump = nullptr;  // set while fn runs on this thread
thread_local uintptr_t t_addr = 0;
struct sigaction g_prev_segv {};
struct sigaction g_prev_bus {};

void on_fault(int sig, siginfo_t* si, void*) {
  // si_code > 0: raised by the hardware for this instruction (not kill()/raise()).
  if (t_jump != nullptr && si != nullptr && si->si_code > 0) {
    t_addr = reinterpret_cast<uintptr_t>(si->si_addr);
    sigjmp_buf* j = t_jump;
    t_jump = nullptr;
    siglongjmp(*j, 1);
  }
  // Not ours: as if we had never been installed.
  ::sigaction(sig, sig == SIGSEGV ? &g_prev_segv : &g_prev_bus, nullptr);
  ::raise(sig);
}

// A signal stack for this thread, so a stack overflow in fn can still be caught.
struct AltStack {
  AltStack() {
    stack_t ss{};
    ss.ss_size = kSize;
    ss.ss_sp = mem = std::malloc(kSize);
    if (mem && ::sigaltstack(&ss, nullptr) != 0) {
      std::free(mem);
      mem = nullptr;
    }
  }
  ~AltStack() {
    if (!mem) return;
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    ::sigaltstack(&ss, nullptr);
    std::free(mem);
  }
  static constexpr size_t kSize = 64 * 1024;
  void* mem = nullptr;
};

void install_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, &g_prev_segv);
    ::sigaction(SIGBUS, &sa, &g_prev_bus);
  });
}

}  // namespace

bool call_catching_faults(int (*fn)(const void*), const void* arg, int* rc, uintptr_t* addr) {
  install_once();
  thread_local AltStack alt;
  sigjmp_buf jump;
  // volatile: read after siglongjmp.
  volatile bool faulted = false;
  // savemask 0: no sigprocmask call on every launch. The handler ran with the signal blocked,
  // so the fault path unblocks it again itself.
  if (sigsetjmp(jump, 0) == 0) {
    t_jump = &jump;
    *rc = fn(arg);
    t_jump = nullptr;
  } else {
    faulted = true;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSEGV);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
  t_jump = nullptr;
  if (faulted) *addr = t_addr;
  return !faulted;
}

}  // namespace rgpu::server
