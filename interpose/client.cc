// interpose/client.cc — see client.h.
#include "interpose/client.h"
#include "interpose/tally.h"
#include "protocol/counting_stream.h"

#include <kj/exception.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <tuple>

#include "interpose/config.h"
#include "interpose/log.h"
#include "interpose/pool_hook.h"
#include "protocol/handshake.h"
#include "protocol/lane_preamble.h"

namespace rgpu {
namespace {

std::once_flag g_init_once;
CUresult g_init_result = CUDA_ERROR_NOT_INITIALIZED;
// Set once by a successful init and never destroyed: cudart's exit handlers still call the
// driver after static destructors have run. Reachable from here for the life of the process.
Client* g_client = nullptr;
std::atomic<bool> g_forked{false};

thread_local std::vector<Context*> t_ctx_stack;

void atfork_child() {
  g_forked.store(true, std::memory_order_relaxed);
}

// At exit. ELF destructors run after every atexit handler, so cudart's teardown has made its
// last driver calls by now. Each idle lane says Goodbye (never blocking), and the server records
// the session as ended by the program rather than as a lost connection. Not in a forked child:
// the sockets it inherited are its parent's.
__attribute__((destructor)) void goodbye_at_exit() {
  if (g_forked.load(std::memory_order_relaxed) || g_client == nullptr) return;
  for (auto& d : g_client->devices)
    if (d->lane) d->lane->goodbye("the program exited");
  write_tally_file();  // for `rgpu run`, which reports it to the pool (tally.h)
}

std::string program_name() {
  char buf[256] = {};
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string name = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
  size_t slash = name.rfind('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  return name + "[" + std::to_string(getpid()) + "]";
}

// One server's accepted hello, before its device is set up.
struct Connected {
  std::unique_ptr<net::Stream> stream;
  HelloAccepted accepted;
  uint64_t rtt_ns = 0;  // the kernel's estimate of the TCP round trip (0: a Unix socket)
};

// The kernel's smoothed round-trip estimate of a TCP connection (from its handshake and the
// Hello), or 0 when the socket is not TCP.
uint64_t tcp_rtt_ns(int fd) {
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) return 0;
  return static_cast<uint64_t>(ti.tcpi_rtt) * 1000;
}

// Connects to server i and says hello. Nothing outlives a failure but the log line.
CUresult connect_server(const Config& cfg, size_t i, Connected* out) {
  try {
    net::Endpoint ep = net::Endpoint::parse(cfg.servers[i]);
    ServerTally& t = tally(i);
    out->stream = std::make_unique<net::CountingStream>(
        net::connect(ep, cfg.tls ? &cfg.tls_config : nullptr, cfg.connect_timeout_ms), &t.bytes_in,
        &t.bytes_out);
    int64_t unset = 0;
    t.started_ns.compare_exchange_strong(
        unset, std::chrono::steady_clock::now().time_since_epoch().count());
    HelloParams hp;
    if (i < cfg.leases.size()) hp.lease = cfg.leases[i];
    hp.secret = cfg.secret;
    hp.client_name = program_name();
    hp.va_base = cfg.va_base + i * kVaStride;
    out->accepted = client_handshake(*out->stream, hp);
    out->rtt_ns = tcp_rtt_ns(out->stream->fd());
  } catch (const std::exception& e) {
    RGPU_ERR("cannot use server %s from RGPU_SERVER: %s", cfg.servers[i].c_str(), e.what());
    return CUDA_ERROR_NO_DEVICE;
  } catch (const kj::Exception& e) {
    RGPU_ERR("cannot use server %s from RGPU_SERVER: %s", cfg.servers[i].c_str(),
             e.getDescription().cStr());
    return CUDA_ERROR_NO_DEVICE;
  }
  if (out->accepted.device_props.size() != sizeof(DeviceProps)) {
    RGPU_ERR("server %s from RGPU_SERVER sent device properties of %zu bytes, expected %zu",
             cfg.servers[i].c_str(), out->accepted.device_props.size(), sizeof(DeviceProps));
    return CUDA_ERROR_NO_DEVICE;
  }
  return CUDA_SUCCESS;
}

// The device attributes that announce a capability the shim does not serve are reported as 0,
// whatever the provider's GPU can do, so libraries take their fallback path instead of calling
// an entry point that returns CUDA_ERROR_NOT_SUPPORTED: IPC and shareable handles, managed and
// mapped host memory, stream memory operations, cooperative launches, GPUDirect RDMA and dma-buf,
// external semaphores, sparse/deferred CUDA arrays, multicast. Memory pools are served
// (mempool_api.cc) but not shareable.
void hide_unserved_capabilities(DeviceProps* p, uint32_t protocol) {
  // Virtual memory management is served against a protocol-6 server whose backend says so.
  if (protocol < 6) p->attrs[CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED] = 0;
  // Managed memory is served by the shim itself (managed.h), without concurrent access, and
  // mapped page-locked memory (cuMemHostAlloc with DEVICEMAP) the same way.
  p->attrs[CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY] = 1;
  p->attrs[CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY] = 1;
  for (CUdevice_attribute a : {
           CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_HANDLE_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_WIN32_KMT_HANDLE_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_FLUSH_WRITES_OPTIONS,
           CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WRITES_ORDERING,
           CU_DEVICE_ATTRIBUTE_MEMPOOL_SUPPORTED_HANDLE_TYPES,
           CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS,
           CU_DEVICE_ATTRIBUTE_PAGEABLE_MEMORY_ACCESS,
           CU_DEVICE_ATTRIBUTE_CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM,
           CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1,
           CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS,
           CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS_V1,
           CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR,
           CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR_V1,
           CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH,
           CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH,
           CU_DEVICE_ATTRIBUTE_TIMELINE_SEMAPHORE_INTEROP_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_SPARSE_CUDA_ARRAY_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_DEFERRED_MAPPING_CUDA_ARRAY_SUPPORTED,
           CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED,
       })
    if (a >= 0 && a < kMaxDeviceAttributes) p->attrs[a] = 0;
}

// Devices on different servers may look alike (two sim servers, or two providers' GPUs at the
// same PCI slot of their own machines), but a program tells its devices apart by UUID and PCI
// id (NVML, cudaDeviceGetByPCIBusId): a device that repeats an earlier one's UUID gets its
// ordinal folded into the UUID's last bytes, and one that repeats a PCI id moves to PCI domain
// = its ordinal. The shim reports these values everywhere (attributes, UUID, integrity check).
void make_distinct(const Client& c, DeviceProps* p, int ordinal) {
  auto pci = [](const DeviceProps& q) {
    return std::make_tuple(q.attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID],
                           q.attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID],
                           q.attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID]);
  };
  for (const auto& other : c.devices) {
    if (std::memcmp(other->props.uuid, p->uuid, sizeof p->uuid) == 0) {
      p->uuid[14] ^= static_cast<uint8_t>(0x80 | (ordinal >> 8));
      p->uuid[15] ^= static_cast<uint8_t>(ordinal);
    }
    if (pci(other->props) == pci(*p)) p->attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID] = ordinal;
  }
}

// Makes device i of c from its connection: its lanes (known to the process-wide flusher from
// then on, interpose/lane.h) and its primary context.
void add_device(Client& c, const Config& cfg, size_t i, Connected conn) {
  const HelloAccepted& acc = conn.accepted;
  auto dev = std::make_unique<Device>();
  dev->ordinal = static_cast<int>(i);
  dev->server = cfg.servers[i];
  memcpy(&dev->props, acc.device_props.data(), sizeof(DeviceProps));
  hide_unserved_capabilities(&dev->props, acc.version);
  make_distinct(c, &dev->props, static_cast<int>(i));
  dev->vram_limit = acc.vram_limit;
  dev->protocol = acc.version;
  dev->rtt_ns = conn.rtt_ns;
  {  // where this process places its own allocations (protocol 11): the window's upper half
    const uint64_t half = dev->props.va_size / 2 / kVmmGranularity * kVmmGranularity;
    dev->placed.reset(dev->props.va_base + half, dev->props.va_size - half, kVmmGranularity);
  }
  LaneSet::Join join;
  join.tally = &tally(i);  // every lane of the session counts into the server's tally
  // Further lanes (one per thread) join this session (server/lane_handoff.h); over TLS only at
  // protocol 4 or later, each opening with the plaintext routing preamble.
  join.allowed = !acc.lane_key.empty() && !cfg.single_lane && (!cfg.tls || acc.version >= 4);
  if (join.allowed) {
    join.endpoint = net::Endpoint::parse(cfg.servers[i]);
    join.timeout_ms = cfg.connect_timeout_ms;
    join.hello.secret = cfg.secret;
    join.hello.client_name = program_name();
    join.hello.va_base = cfg.va_base + i * kVaStride;
    join.hello.join_session = acc.session_id;
    join.hello.join_key = acc.lane_key;
    join.tls = cfg.tls;
    if (cfg.tls) {
      join.tls_config = cfg.tls_config;
      join.preamble = join_preamble(acc.session_id);
    }
  }
  dev->lane = std::make_unique<LaneSet>(std::move(conn.stream), cfg.servers[i], std::move(join));
  dev->primary = new Context();
  dev->primary->device = dev->ordinal;
  dev->primary->primary = true;
  dev->primary->id = c.new_ctx_id();
  c.contexts.insert(dev->primary);
  RGPU_INFO("device %d: %s on %s (%llu MiB)", dev->ordinal, dev->props.name, cfg.servers[i].c_str(),
            (unsigned long long)(dev->props.total_mem >> 20));
  c.devices.push_back(std::move(dev));
}

CUresult do_init() {
  pthread_atfork(nullptr, nullptr, atfork_child);
  Config cfg;
  std::string err;
  if (!parse_config(&cfg, &err)) {
    RGPU_ERR("%s", err.c_str());
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (cfg.servers.empty() && !cfg.pool.empty()) {
    if (!acquire_from_pool(&cfg, &err)) {
      RGPU_ERR("%s", err.c_str());
      return CUDA_ERROR_NO_DEVICE;
    }
  }
  if (cfg.servers.empty()) {
    RGPU_ERR("no GPU server configured: set RGPU_SERVER=host:port (or RGPU_POOL=host:port)");
    return CUDA_ERROR_NO_DEVICE;
  }
  // Every server answers before any device is made, so a failed init leaves nothing behind
  // (the connections close here) and a successful one never has to undo a device.
  std::vector<Connected> conns(cfg.servers.size());
  for (size_t i = 0; i < cfg.servers.size(); ++i) {
    CUresult r = connect_server(cfg, i, &conns[i]);
    if (r != CUDA_SUCCESS) return r;
  }
  auto c = std::make_unique<Client>();
  c->client_placement = cfg.client_placement;
  c->client_layout = cfg.client_layout;
  for (size_t i = 0; i < conns.size(); ++i) add_device(*c, cfg, i, std::move(conns[i]));
  g_client = c.release();
  // Leases from RGPU_POOL without `rgpu run` (which reports RGPU_TALLY_FILE): the shim reports
  // its own count of each session to the pool at exit (tally.h).
  const char* tf = std::getenv("RGPU_TALLY_FILE");
  if (!cfg.pool_lease_ids.empty() && !(tf && *tf))
    report_tally_at_exit(cfg.pool, cfg.pool_token, cfg.pool_lease_ids, &g_forked);
  return CUDA_SUCCESS;
}

}  // namespace

void add_dev_alloc(Client& c, uint64_t dptr, const DevAlloc& a) {
  c.dev_allocs[dptr] = a;
  c.devices[static_cast<size_t>(a.device)]->alloc_bytes += granule_bytes(a.size);
}

bool erase_dev_alloc(Client& c, uint64_t dptr, DevAlloc* was) {
  auto it = c.dev_allocs.find(dptr);
  if (it == c.dev_allocs.end()) return false;
  Device& d = *c.devices[static_cast<size_t>(it->second.device)];
  const uint64_t n = granule_bytes(it->second.size);
  d.alloc_bytes -= std::min(d.alloc_bytes, n);
  if (was) *was = it->second;
  c.dev_allocs.erase(it);
  return true;
}

CUresult init(unsigned flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  if (in_forked_child()) return forked_child_error("cuInit");
  std::call_once(g_init_once, [] { g_init_result = do_init(); });
  return g_init_result;
}

Client* state() {
  if (g_forked.load(std::memory_order_relaxed)) return nullptr;
  return g_client;
}

CUresult check_init() {
  if (g_forked.load(std::memory_order_relaxed)) return CUDA_ERROR_NOT_INITIALIZED;
  return g_client ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

bool in_forked_child() {
  return g_forked.load(std::memory_order_relaxed);
}

CUresult forked_child_error(const char* entry) {
  static std::atomic<bool> once{false};
  if (!once.exchange(true)) {
    RGPU_ERR(
        "%s called in a child process after fork(); CUDA state does not survive fork "
        "(re-exec or use spawn)",
        entry);
  }
  return CUDA_ERROR_NOT_INITIALIZED;
}

int local_entry_went_remote(const char* entry, const char* op) {
  static std::mutex mu;
  static std::set<std::string> told;
  std::lock_guard<std::mutex> g(mu);
  if (told.insert(entry).second)
    RGPU_ERR(
        "%s is declared kLocal in entry_points.def but asked the server (%s); this is an rgpu "
        "bug, please report it",
        entry, op);
  return CUDA_ERROR_NOT_SUPPORTED;
}

CUresult null_output_error(const char* entry, const char* param) {
  RGPU_DEBUG("%s: output parameter %s is NULL", entry, param);
  return CUDA_ERROR_INVALID_VALUE;
}

CUresult exception_to_result(const char* entry) {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    RGPU_ERR("%s failed: %s", entry, e.what());
  } catch (const kj::Exception& e) {
    RGPU_ERR("%s failed: %s", entry, e.getDescription().cStr());
  } catch (...) {
    RGPU_ERR("%s failed with an unknown exception", entry);
  }
  return CUDA_ERROR_UNKNOWN;
}

Context* current_context() {
  return t_ctx_stack.empty() ? nullptr : t_ctx_stack.back();
}

void set_current_context(Context* c) {
  if (t_ctx_stack.empty()) {
    if (c) t_ctx_stack.push_back(c);
  } else if (c) {
    t_ctx_stack.back() = c;
  } else {
    t_ctx_stack.pop_back();
  }
}

void push_context(Context* c) {
  t_ctx_stack.push_back(c);
}

Context* pop_context() {
  if (t_ctx_stack.empty()) return nullptr;
  Context* c = t_ctx_stack.back();
  t_ctx_stack.pop_back();
  return c;
}

void forget_context_in_this_thread(Context* c) {
  std::erase(t_ctx_stack, c);
}

bool valid_context(Client& c, const void* h) {
  std::shared_lock<std::shared_mutex> g(c.mu);
  return c.contexts.count(h) > 0;
}

CUresult resolve_context(CUcontext in, Context** out) {
  Client* c = state();
  if (!c) return check_init();
  if (!in) {
    *out = current_context();
    return *out ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
  }
  if (!valid_context(*c, in)) return CUDA_ERROR_INVALID_CONTEXT;
  *out = reinterpret_cast<Context*>(in);
  return CUDA_SUCCESS;
}

CUresult current_device(Device** dev, Context** ctx) {
  Client* c = state();
  if (!c) return check_init();
  Context* cur = current_context();
  if (!cur) return CUDA_ERROR_INVALID_CONTEXT;
  if (cur->primary && cur->refcount == 0) {
    // cudart sets the primary context current before retaining it; calls that need it
    // before then still work, as with the real driver's lazily activated primary context.
  }
  *dev = c->devices[static_cast<size_t>(cur->device)].get();
  if (ctx) *ctx = cur;
  return CUDA_SUCCESS;
}

CUresult resolve_stream(CUstream s, bool per_thread, uint64_t* wire, Device** dev) {
  Client* c = state();
  if (!c) return check_init();
  uintptr_t v = reinterpret_cast<uintptr_t>(s);
  if (v == 0 || v == reinterpret_cast<uintptr_t>(CU_STREAM_LEGACY) ||
      v == reinterpret_cast<uintptr_t>(CU_STREAM_PER_THREAD)) {
    *wire = v == 0 ? (per_thread ? 2 : 0) : v;
    return current_device(dev);
  }
  std::shared_lock<std::shared_mutex> g(c->mu);
  if (!c->streams.count(s)) return CUDA_ERROR_INVALID_HANDLE;
  auto* st = reinterpret_cast<Stream*>(s);
  *wire = st->wire;
  *dev = c->devices[static_cast<size_t>(st->ctx->device)].get();
  return CUDA_SUCCESS;
}

Device* device_of_pointer(uint64_t ptr, uint64_t len) {
  Client* c = state();
  if (!c) return nullptr;
  for (auto& d : c->devices) {
    uint64_t b = d->props.va_base, n = d->props.va_size;
    if (ptr >= b && ptr - b < n && len <= n - (ptr - b)) return d.get();
  }
  return nullptr;
}

void teardown_context_state(Context* ctx) {
  Client* c = state();
  if (!c) return;
  c->cls.destroy_context(ctx);
  std::lock_guard<std::shared_mutex> g(c->mu);
  for (auto it = c->streams.begin(); it != c->streams.end();) {
    auto* s = static_cast<const Stream*>(*it);
    if (s->ctx == ctx) {
      delete s;
      it = c->streams.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = c->events.begin(); it != c->events.end();) {
    auto* e = static_cast<const Event*>(*it);
    if (e->ctx == ctx) {
      delete e;
      it = c->events.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace rgpu
