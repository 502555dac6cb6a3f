// pool_manager/signing_keys.cc — see signing_keys.h.
#include "pool_manager/signing_keys.h"

#include <algorithm>
#include <cstdlib>

#include "protocol/control/lease.h"

namespace rgpu::pool {
namespace {

struct Retired {
  std::string hex;
  int64_t until = 0;
};

// The comma-separated items of a meta value.
std::vector<std::string> items(const std::string& text) {
  std::vector<std::string> out;
  for (size_t at = 0; at < text.size();) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

std::vector<Retired> parse_retired(const std::string& text) {
  std::vector<Retired> out;
  for (const std::string& one : items(text)) {
    const size_t colon = one.find(':');
    if (colon != std::string::npos)
      out.push_back({one.substr(0, colon), std::strtoll(one.c_str() + colon + 1, nullptr, 10)});
  }
  return out;
}

// Adds `hex` to the store's list of every key it has signed with (pool_ledger_keys).
void remember_ledger_key(Store& store, const std::string& hex) {
  const std::string list = store.get_meta("pool_ledger_keys");
  const std::vector<std::string> known = items(list);
  if (std::find(known.begin(), known.end(), hex) != known.end()) return;
  store.put_meta("pool_ledger_keys", list.empty() ? hex : list + "," + hex);
}

}  // namespace

std::string adopt_signing_key(Store& store, const std::string& public_raw, bool rotate, int64_t now,
                              int64_t lease_ttl_s, std::string* note) {
  const std::string mine = control::to_hex(public_raw);
  std::string refusal;
  store.atomically([&] {  // two replicas starting at once: one of them is first
    const std::string known = store.get_meta("pool_public_key");
    if (known == mine) {
      remember_ledger_key(store, mine);  // (a store from before the list was kept)
      return;
    }
    if (known.empty()) {
      store.put_meta("pool_public_key", mine);
      remember_ledger_key(store, mine);
      return;
    }
    if (!rotate) {
      refusal = "this key (" + mine.substr(0, 16) +
                "…) is not the one the other replicas of this database sign leases with (" +
                known.substr(0, 16) +
                "…): give every replica the same --key-file, or pass --new-key to rotate to it";
      return;
    }
    std::vector<Retired> retired = parse_retired(store.get_meta("pool_retired_keys"));
    retired.erase(std::remove_if(retired.begin(), retired.end(),
                                 [&](const Retired& r) { return r.until < now || r.hex == mine; }),
                  retired.end());
    retired.push_back({known, now + lease_ttl_s + 60});
    std::string text;
    for (auto& r : retired)
      text += (text.empty() ? "" : ",") + r.hex + ":" + std::to_string(r.until);
    store.put_meta("pool_retired_keys", text);
    store.put_meta("pool_public_key", mine);
    remember_ledger_key(store, known);
    remember_ledger_key(store, mine);
    *note = "the database's signing key is now this one (" + mine.substr(0, 16) + "…); the old " +
            "one (" + known.substr(0, 16) + "…) stays published to servers until its leases " +
            "have expired, and replicas still on it keep signing with it until restarted with " +
            "the new --key-file";
  });
  return refusal;
}

std::vector<std::string> published_keys(Store& store, const std::string& public_raw, int64_t now) {
  std::vector<std::string> out;
  const std::string mine = control::to_hex(public_raw);
  const std::string current = store.get_meta("pool_public_key");
  const std::vector<Retired> retired = parse_retired(store.get_meta("pool_retired_keys"));
  // This replica's key, unless it was retired and its window has passed (it must not sign
  // then: its leases would be refused, and a retired key may be a leaked one).
  bool mine_valid = current.empty() || current == mine;
  for (const Retired& r : retired)
    if (r.hex == mine && r.until >= now) mine_valid = true;
  if (mine_valid) out.push_back(public_raw);
  auto add = [&](const std::string& hex) {
    std::string raw;
    if (!control::from_hex(hex, &raw) || raw.size() != 32) return;
    if (std::find(out.begin(), out.end(), raw) == out.end()) out.push_back(raw);
  };
  add(current);
  for (const Retired& r : retired)
    if (r.until >= now) add(r.hex);
  return out;
}

std::vector<std::string> ledger_keys(Store& store, const std::string& public_raw) {
  std::vector<std::string> out{public_raw};
  for (const std::string& hex : items(store.get_meta("pool_ledger_keys"))) {
    std::string raw;
    if (control::from_hex(hex, &raw) && raw.size() == 32 &&
        std::find(out.begin(), out.end(), raw) == out.end())
      out.push_back(raw);
  }
  return out;
}

}  // namespace rgpu::pool
