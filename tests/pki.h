// tests/pki.h — certificates for tests, issued exactly as users issue theirs: with
// scripts/make-certs.sh (a CA per directory; pool/server certificates carry serverAuth and the
// names they are dialled by, client certificates clientAuth). RGPU_MAKE_CERTS is the script's
// path, set by tests/CMakeLists.txt.
#pragma once

#include <cstdlib>
#include <string>

namespace rgpu::test {

// Runs `make-certs.sh --dir DIR ARGS`; false (its output left in DIR/make-certs.out) on failure.
inline bool make_certs(const std::string& dir, const std::string& args) {
  std::string cmd = "bash '" RGPU_MAKE_CERTS "' --dir '" + dir + "' " + args + " >>'" + dir +
                    "/make-certs.out' 2>&1";
  return std::system(("mkdir -p '" + dir + "' && " + cmd).c_str()) == 0;
}

// A CA in DIR and, signed by it, one certificate per "role:name" (servers and pools named for
// loopback: DNS:localhost, IP:127.0.0.1, and DNS:name).
inline bool make_pki(const std::string& dir, std::initializer_list<const char*> certs) {
  if (!make_certs(dir, "ca")) return false;
  for (std::string rn : certs) {
    const auto colon = rn.find(':');
    const std::string role = rn.substr(0, colon), name = rn.substr(colon + 1);
    std::string args = role + " " + name;
    if (role != "client") args += " --san DNS:localhost,IP:127.0.0.1,DNS:" + name;
    if (!make_certs(dir, args)) return false;
  }
  return true;
}

}  // namespace rgpu::test
