// server/worker/compute_share.cc — the shared table of compute shares and its policy.
#include "server/worker/compute_share.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <ctime>

namespace rgpu::server {

namespace {

// What an unstated share weighs among `v` (0 when every share is stated).
double unstated_weight(const std::vector<ShareView>& v) {
  double stated = 0;
  size_t unstated = 0;
  for (const ShareView& s : v) {
    if (!s.used) continue;
    if (s.share_milli)
      stated += s.share_milli / 1000.0;
    else
      ++unstated;
  }
  return unstated ? std::max(kMinWeight, (1.0 - stated) / unstated) : 0;
}

double weight_of(const ShareView& s, double unstated) {
  if (!s.used) return 0;
  return s.share_milli ? std::max(kMinWeight, s.share_milli / 1000.0) : unstated;
}

// Session i's weight, without the whole vector (the launch path needs one).
double share_weight(const std::vector<ShareView>& v, size_t i) {
  return weight_of(v[i], unstated_weight(v));
}

}  // namespace

std::vector<double> share_weights(const std::vector<ShareView>& v) {
  const double each = unstated_weight(v);
  std::vector<double> w(v.size(), 0);
  for (size_t i = 0; i < v.size(); ++i) w[i] = weight_of(v[i], each);
  return w;
}

bool share_may_start(const std::vector<ShareView>& v, size_t me, uint64_t slice_ns) {
  const double w = share_weight(v, me);
  const double slack = w > 0 ? slice_ns / w : 0;
  for (size_t j = 0; j < v.size(); ++j)
    if (j != me && v[j].used && v[j].contending && v[j].vtime + slack < v[me].vtime) return false;
  return true;
}

double share_reentry_vtime(const std::vector<ShareView>& v, size_t me, uint64_t slice_ns) {
  bool any = false;
  double low = 0;
  for (size_t j = 0; j < v.size(); ++j) {
    if (j == me || !v[j].used || !v[j].active) continue;
    low = any ? std::min(low, v[j].vtime) : v[j].vtime;
    any = true;
  }
  if (!any) return v[me].vtime;
  const double w = share_weight(v, me);
  return std::max(v[me].vtime, low - kCreditSlices * (w > 0 ? slice_ns / w : 0));
}

namespace {

constexpr uint64_t kMagic = 0x7267707573686172ULL;  // "rgpushar"

int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

struct ShareSlotShm {
  int32_t pid;  // 0: free
  uint32_t share_milli;
  uint32_t waiting;
  uint32_t running;
  int64_t last_ns;   // CLOCK_MONOTONIC when it last asked, started or ended
  int64_t ended_ns;  // CLOCK_MONOTONIC when its last turn ended
  double vtime;
  uint64_t busy_ns;
};

struct ShareTableShm {
  uint64_t magic;
  uint32_t high;          // slots [0, high) have been used (a scan's bound; read clamped)
  uint32_t device_owner;  // slot + 1 of the session on an exclusive device, 0: free
  pthread_mutex_t mu;     // robust, process-shared: guards everything but `changes`
  // Bumped (and futex-woken) when a turn ends or a slot changes. A futex word, not a condition
  // variable: a process-shared pthread_cond_t whose waiter is killed while waiting can block
  // the next broadcast forever (glibc keeps a reference for the sleeping waiter).
  std::atomic<uint32_t> changes;
  ShareSlotShm slot[kShareSlots];
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);

namespace {

void notify(ShareTableShm* t) {
  t->changes.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&t->changes), FUTEX_WAKE, INT32_MAX, nullptr,
          nullptr, 0);
}

// Locks the table; recovers it when the last holder died holding it.
class TableLock {
 public:
  explicit TableLock(ShareTableShm* t) : t_(t) { lock(); }
  ~TableLock() { pthread_mutex_unlock(&t_->mu); }
  // Unlocks, waits for a change (at most `ns`), locks again.
  void wait_ns(int64_t ns) {
    const uint32_t seen = t_->changes.load(std::memory_order_acquire);
    pthread_mutex_unlock(&t_->mu);
    timespec ts{ns / 1'000'000'000, ns % 1'000'000'000};
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&t_->changes), FUTEX_WAIT, seen, &ts, nullptr,
            0);
    lock();
  }

 private:
  void lock() {
    if (pthread_mutex_lock(&t_->mu) == EOWNERDEAD) pthread_mutex_consistent(&t_->mu);
  }
  ShareTableShm* t_;
};

// Slots in use so far, whatever another process wrote there.
size_t high(const ShareTableShm* t) {
  return std::min<size_t>(t->high, kShareSlots);
}

void fill_views(const ShareTableShm* t, int64_t now, std::vector<ShareView>* v) {
  const size_t n = high(t);
  v->assign(n, ShareView{});
  for (size_t i = 0; i < n; ++i) {
    const ShareSlotShm& s = t->slot[i];
    ShareView& o = (*v)[i];
    o.used = s.pid != 0;
    o.share_milli = s.share_milli;
    o.contending = s.waiting || (s.pid && !s.running && now - s.ended_ns < int64_t(kGraceNs));
    o.active = s.waiting || s.running || now - s.last_ns < int64_t(kIdleNs);
    o.vtime = s.vtime;
  }
}

ShareTableShm* map_table(int fd) {
  void* p = mmap(nullptr, sizeof(ShareTableShm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<ShareTableShm*>(p);
}

}  // namespace

std::unique_ptr<ShareTable> ShareTable::create(std::string* error) {
  std::unique_ptr<ShareTable> t(new ShareTable());
  t->fd_ = memfd_create("rgpu-compute-shares", MFD_CLOEXEC);
  if (t->fd_ >= 0 && t->fd_ < 10) {  // clear of the fds a worker is started with (3..6)
    const int high = fcntl(t->fd_, F_DUPFD_CLOEXEC, 10);
    close(t->fd_);
    t->fd_ = high;
  }
  if (t->fd_ < 0 || ftruncate(t->fd_, sizeof(ShareTableShm)) != 0 || !(t->t_ = map_table(t->fd_))) {
    *error = std::string("cannot make the compute-share table: ") + std::strerror(errno);
    return nullptr;
  }
  std::memset(static_cast<void*>(t->t_), 0, sizeof(ShareTableShm));
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&t->t_->mu, &ma);
  pthread_mutexattr_destroy(&ma);
  t->t_->magic = kMagic;
  return t;
}

ShareTable::~ShareTable() {
  if (t_) munmap(t_, sizeof(ShareTableShm));
  if (fd_ >= 0) close(fd_);
}

void ShareTable::release_pid(pid_t pid) {
  TableLock l(t_);
  for (size_t i = 0; i < high(t_); ++i) {
    if (t_->slot[i].pid != pid) continue;
    if (t_->device_owner == i + 1) t_->device_owner = 0;
    t_->slot[i] = ShareSlotShm{};
  }
  notify(t_);
}

std::unique_ptr<ComputeShare> ComputeShare::join(int fd, uint32_t share_milli, bool exclusive,
                                                 std::string* error) {
  struct stat st {};
  const std::string not_table =
      "--shares-fd " + std::to_string(fd) + " is not a compute-share table";
  if (fstat(fd, &st) != 0 || st.st_size != static_cast<off_t>(sizeof(ShareTableShm))) {
    *error = not_table;
    return nullptr;
  }
  std::unique_ptr<ComputeShare> c(new ComputeShare());
  c->t_ = map_table(fd);
  if (!c->t_ || c->t_->magic != kMagic) {
    *error = not_table;
    return nullptr;
  }
  c->exclusive_ = exclusive;
  c->views_.reserve(kShareSlots);
  TableLock l(c->t_);
  for (size_t i = 0; i < kShareSlots; ++i) {
    ShareSlotShm& s = c->t_->slot[i];
    if (s.pid != 0) continue;
    s = ShareSlotShm{};
    s.pid = getpid();
    s.share_milli = share_milli;
    c->slot_ = i;
    c->t_->high = std::max<uint32_t>(c->t_->high, uint32_t(i + 1));
    return c;
  }
  *error = "every compute-share slot is taken (" + std::to_string(kShareSlots) + " sessions)";
  return nullptr;
}

ComputeShare::~ComputeShare() {
  if (!t_) return;
  {
    TableLock l(t_);
    if (t_->device_owner == slot_ + 1) t_->device_owner = 0;
    t_->slot[slot_] = ShareSlotShm{};
    notify(t_);
  }
  munmap(t_, sizeof(ShareTableShm));
}

void ComputeShare::abort() {
  aborted_.store(true);
  if (t_) notify(t_);
}

bool ComputeShare::begin() {
  const int64_t asked = mono_ns();
  TableLock l(t_);
  ShareSlotShm& me = t_->slot[slot_];
  fill_views(t_, asked, &views_);
  if (!views_[slot_].contending) me.vtime = share_reentry_vtime(views_, slot_);
  me.waiting = 1;
  me.last_ns = asked;
  for (;;) {
    if (aborted_.load(std::memory_order_relaxed)) {
      me.waiting = 0;
      return false;  // takes nothing: the session is ending
    }
    const uint32_t owner = t_->device_owner;
    const bool free = !exclusive_ || owner == 0 || owner == slot_ + 1 || owner > kShareSlots;
    const int64_t now = mono_ns();
    fill_views(t_, now, &views_);
    if (free && share_may_start(views_, slot_)) break;
    // A turn's end wakes waiters; a rival's grace running out does not, so wake for that too.
    int64_t wait = 20'000'000;
    for (size_t j = 0; j < views_.size(); ++j) {
      const ShareSlotShm& r = t_->slot[j];
      const int64_t left = r.ended_ns + int64_t(kGraceNs) - now;
      if (j != slot_ && r.pid && !r.waiting && !r.running && left > 0) wait = std::min(wait, left);
    }
    l.wait_ns(std::max<int64_t>(wait, 10'000));
  }
  me.waiting = 0;
  me.running = 1;
  me.last_ns = mono_ns();
  if (exclusive_) t_->device_owner = uint32_t(slot_ + 1);
  waited_ns_ += uint64_t(me.last_ns - asked);
  return true;
}

void ComputeShare::end(uint64_t busy_ns) {
  const uint64_t delta = busy_ns > charged_busy_ns_ ? busy_ns - charged_busy_ns_ : 0;
  charged_busy_ns_ = std::max(charged_busy_ns_, busy_ns);
  TableLock l(t_);
  ShareSlotShm& me = t_->slot[slot_];
  fill_views(t_, mono_ns(), &views_);
  const double w = share_weight(views_, slot_);
  me.vtime += w > 0 ? delta / w : 0;
  me.busy_ns += delta;
  me.running = 0;
  me.last_ns = me.ended_ns = mono_ns();
  if (t_->device_owner == slot_ + 1) t_->device_owner = 0;
  notify(t_);
}

}  // namespace rgpu::server
