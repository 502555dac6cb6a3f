// interpose/config.cc — see config.h.
#include "interpose/config.h"

#include <cstdlib>

#include "protocol/control/lease.h"

namespace rgpu {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(start, comma - start);
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
    start = comma + 1;
  }
  return out;
}

bool parse_config(Config* c, std::string* error) {
  auto env = [](const char* n) -> std::string {
    const char* v = getenv(n);
    return v ? v : "";
  };
  c->servers = split_list(env("RGPU_SERVER"));
  c->secret = env("RGPU_SECRET");
  c->pool = env("RGPU_POOL");
  for (const std::string& l : split_list(env("RGPU_LEASE"))) {
    std::string bytes;
    if (!control::lease_from_text(l, &bytes)) {
      *error = "RGPU_LEASE holds a value that is neither base64url nor hex (from `rgpu run`)";
      return false;
    }
    c->leases.push_back(std::move(bytes));
  }
  if (!c->leases.empty() && !c->servers.empty() && c->leases.size() != c->servers.size()) {
    *error = "RGPU_LEASE has " + std::to_string(c->leases.size()) + " leases for " +
             std::to_string(c->servers.size()) + " servers in RGPU_SERVER (one per server)";
    return false;
  }
  c->tls_config.ca_file = env("RGPU_TLS_CA");
  c->tls_config.cert_file = env("RGPU_TLS_CERT");
  c->tls_config.key_file = env("RGPU_TLS_KEY");
  c->tls = !c->tls_config.ca_file.empty() || !c->tls_config.cert_file.empty();
  if (c->tls && c->tls_config.ca_file.empty()) {
    *error =
        "RGPU_TLS_CERT is set but RGPU_TLS_CA is not: TLS that checks no server would trust "
        "anyone; set RGPU_TLS_CA to the CA that signed the servers' certificates";
    return false;
  }
  if (c->tls_config.cert_file.empty() != c->tls_config.key_file.empty()) {
    *error = "RGPU_TLS_CERT and RGPU_TLS_KEY go together: set both (or neither)";
    return false;
  }
  c->single_lane = env("RGPU_LANES") == "1";
  for (auto [name, flag] : {std::pair{"RGPU_CLIENT_PLACEMENT", &c->client_placement},
                            std::pair{"RGPU_CLIENT_LAYOUT", &c->client_layout}}) {
    const std::string v = env(name);
    if (v.empty()) continue;
    if (v != "0" && v != "1") {
      *error = std::string(name) + " must be 0 or 1, not '" + v + "'";
      return false;
    }
    *flag = v == "1";
  }
  if (std::string v = env("RGPU_VA_BASE"); !v.empty()) {
    char* end = nullptr;
    unsigned long long b = strtoull(v.c_str(), &end, 16);
    if (!end || *end || b == 0 || b % (1ull << 30) != 0 ||
        b >= (0x700000000000ull - (8ull << 40))) {
      *error =
          "RGPU_VA_BASE must be a 1 GiB aligned hexadecimal address below 0x700000000000 "
          "(leaving room for 8 devices), not '" +
          v + "'";
      return false;
    }
    c->va_base = b;
  }
  std::string t = env("RGPU_CONNECT_TIMEOUT_MS");
  if (!t.empty()) {
    char* end = nullptr;
    long v = strtol(t.c_str(), &end, 10);
    if (!end || *end || v <= 0) {
      *error = "RGPU_CONNECT_TIMEOUT_MS must be a positive number of milliseconds";
      return false;
    }
    c->connect_timeout_ms = static_cast<int>(v);
  }
  return true;
}

}  // namespace rgpu
