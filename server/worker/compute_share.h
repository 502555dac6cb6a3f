// server/worker/compute_share.h — compute shares: one GPU's device time divided among its
// sessions (issue 15 item 4).
//
// Contract:
// - One ShareTable per rgpu-server (a server lends one GPU): a memfd the supervisor creates
//   (ShareTable::create) and hands to every worker as fd 6 (`--shares-fd`). Each worker joins
//   with its lease's compute share (thousandths of the GPU; 0: the lease states none) and takes
//   a Turn around every piece of device work it submits (a kernel launch). The supervisor frees
//   the slot of each worker it reaps (release_pid), so a crashed worker holds nothing.
// - The policy (share_may_start, share_weights: pure, unit-tested) is weighted fair queueing on
//   device time. A session's virtual time is its device time divided by its weight; a session
//   may start work unless another session that contends (waits for a turn, or ended one within
//   kGraceNs) is behind it by more than one slice (kSliceNs of the starter's own device time).
//   Alone, a session never waits, and one whose rivals stopped asking waits at most kGraceNs
//   (work-conserving). A session that was not contending asks at most kCreditSlices slices
//   behind the lowest virtual time of the active ones (active: ran within kIdleNs): enough to go
//   first when it asks again, so neither idling nor light use banks more.
// - Weights: a stated share is its weight; sessions without one split what the stated shares
//   leave, each at least kMinWeight. The pool keeps the stated shares on one GPU summing to at
//   most the provider's --lend-compute (placement.h), so a stated share is a floor under
//   contention, never a ceiling when others are idle.
// - An exclusive device (the sim, which runs a kernel on the worker's thread) runs one session's
//   work at a time: a Turn also waits until no other session holds the device, and the device
//   time charged is the backend's busy_ns() growth. On the cuda backend (kernels are
//   asynchronous) a Turn only gates submission and busy_ns() is the driver's own timing, read
//   late; that path has not been measured on a GPU yet.
// - Waiting never blocks forever: waits are bounded futex waits that re-check the table (no
//   condition variable, which a waiter killed mid-wait can wedge), abort() (the session ends)
//   ends them and begin() then takes nothing, and a worker that died holding the table's lock is
//   recovered (a robust mutex). The table's own numbers are read clamped, so a count or owner
//   another process scribbled cannot send a reader out of bounds.
// - The table is shared by processes that serve different tenants: a worker whose process a
//   tenant took over could skew the schedule (not read or write anyone's data). Noted in
//   docs/security.md.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace rgpu::server {

inline constexpr uint64_t kSliceNs = 2'000'000;  // a session may run this far ahead of its share
inline constexpr uint64_t kIdleNs = 5'000'000;   // idle this long: re-enter at the active minimum
// A session that just ended a turn still contends this long: its next launch is usually decoded
// within microseconds, and one that is behind must not lose the device to that gap.
inline constexpr uint64_t kGraceNs = 500'000;
inline constexpr double kMinWeight = 0.05;  // the least an unstated share weighs
inline constexpr double kCreditSlices = 2;  // the most credit a returning session keeps
inline constexpr size_t kShareSlots = 256;

// One session as the policy sees it.
struct ShareView {
  bool used = false;
  uint32_t share_milli = 0;  // stated share, 0: none
  bool contending = false;   // asking for a turn now, or ended one within kGraceNs
  bool active = false;       // waiting, running, or ran within kIdleNs
  double vtime = 0;          // device ns / weight
};

// Each used slot's weight (0 for unused ones).
std::vector<double> share_weights(const std::vector<ShareView>& v);
// May session `me` start work now? (the exclusive device being free is checked by the caller)
bool share_may_start(const std::vector<ShareView>& v, size_t me, uint64_t slice_ns = kSliceNs);
// The virtual time a session `me` that was not contending asks with: its own, but never more
// than kCreditSlices slices (of its own device time) behind the lowest of the other active
// sessions: a light or idle session goes first when it asks again, and keeps no more credit.
double share_reentry_vtime(const std::vector<ShareView>& v, size_t me,
                           uint64_t slice_ns = kSliceNs);

struct ShareTableShm;

// The supervisor's handle on the table.
class ShareTable {
 public:
  // A fresh table in a memfd. nullptr with *error when the system refuses.
  static std::unique_ptr<ShareTable> create(std::string* error);
  ~ShareTable();
  int fd() const { return fd_; }
  // Frees every slot worker `pid` held (it was reaped).
  void release_pid(pid_t pid);

 private:
  ShareTable() = default;
  int fd_ = -1;
  ShareTableShm* t_ = nullptr;
};

// A worker's session in the table.
class ComputeShare {
 public:
  // Maps the table at `fd` and takes a slot for this process (the fd may be closed after).
  // nullptr with *error when the fd is not a table or every slot is taken.
  static std::unique_ptr<ComputeShare> join(int fd, uint32_t share_milli, bool exclusive,
                                            std::string* error);
  ~ComputeShare();

  // Waits for this session's turn to submit device work; end(), after it, is given the
  // backend's device time so far (Backend::busy_ns()) and charges its growth. One thread at a
  // time (the session's Gate turn).
  // begin() is false only when abort() came first: nothing was taken, run nothing.
  bool begin();
  void end(uint64_t busy_ns);
  void abort();
  uint64_t waited_ns() const { return waited_ns_; }  // in begin(), over the session

 private:
  ComputeShare() = default;
  ShareTableShm* t_ = nullptr;
  size_t slot_ = 0;
  bool exclusive_ = false;
  uint64_t charged_busy_ns_ = 0;  // the backend's busy_ns() already charged
  uint64_t waited_ns_ = 0;
  std::atomic<bool> aborted_{false};
  std::vector<ShareView> views_;  // begin()/end()'s scratch
};

}  // namespace rgpu::server
