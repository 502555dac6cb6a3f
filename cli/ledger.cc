// cli/ledger.cc — `rgpu ledger head|export|verify|consistency`, `rgpu payout record`,
// `rgpu earnings`: the pool's ledger (pool_manager/ledger.h) and the balances it backs.
// verify and the checks in consistency run offline against the pool's public key only.
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "cli/cli.h"
#include "cli/output.h"
#include "cli/pool_call.h"
#include "pool_manager/ledger.h"
#include "protocol/control/merkle.h"
#include "protocol/control/money.h"
#include "protocol/control/usage_receipt.h"

namespace rgpu::cli {
namespace {

using nlohmann::json;

const char* kLedgerUsage =
    "usage: rgpu ledger head [--json]           the ledger's size and root, signed by the pool\n"
    "       rgpu ledger export [--since 24h|7d|YYYY-MM-DD] [--format json|csv] [--out FILE]\n"
    "         the entries this token may see (admins: all; providers: their own; users:\n"
    "         theirs; rates: everyone's), each with its inclusion proof in the signed head\n"
    "       rgpu ledger verify FILE --pool-key HEX|FILE [--provider-key HEX|FILE]\n"
    "         offline: every entry's hash, the chain, every inclusion proof and the head's\n"
    "         signature; names the first bad entry (exit 1). --provider-key (a provider's\n"
    "         receipt-key-*.pub, in its --state-dir): every receipt entry must carry that\n"
    "         provider's signature of exactly its totals (for a provider's own export)\n"
    "       rgpu ledger consistency FILE --pool-key HEX|FILE\n"
    "         asks the pool to prove that the ledger an earlier export saw is a prefix of\n"
    "         today's (a pool cannot rewrite history you have seen)\n";
const char* kPayoutUsage =
    "usage: rgpu payout record PROVIDER AMOUNT --ref TEXT   (admin)\n"
    "  records a payout made on an external rail (bank, token, crypto) in the ledger\n";
const char* kEarningsUsage =
    "usage: rgpu earnings [--json]\n"
    "  providers: earned (settled sessions), paid (payouts), pending; users: spent.\n"
    "  Admins see everyone.\n";

std::string raw(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

json head_json(cp::TreeHeadRow::Reader h) {
  return {{"size", h.getSize()},
          {"time", h.getTimeUnix()},
          {"root", control::to_hex(raw(h.getRoot()))},
          {"signature", control::to_hex(raw(h.getSignature()))}};
}

// The pool's key from --pool-key (a file such as the pool's pool.pub, or hex), never from the
// file being checked: a forged export would carry its forger's key.
bool pool_key_from(const Args& a, const json& file, std::string* key, std::string* error) {
  if (!a.has("--pool-key")) {
    *error =
        "pass --pool-key: your pool's public key (its pool.pub, or hex), so that an export signed "
        "by anyone else cannot pass";
    return false;
  }
  const std::string k = a.get("--pool-key");
  if (access(k.c_str(), R_OK) == 0) return control::read_public_key_file(k, key, error);
  return control::parse_public_key(k, key, error);
}

bool read_head(const json& j, control::TreeHead* h) {
  if (!j.is_object() || !j.contains("size") || !j.contains("time") || !j.contains("root") ||
      !j.contains("signature") || !j["size"].is_number_unsigned() || !j["time"].is_number() ||
      !j["root"].is_string() || !j["signature"].is_string())
    return false;
  h->size = j["size"].get<uint64_t>();
  h->time = j["time"].get<int64_t>();
  return control::from_hex(j["root"].get<std::string>(), &h->root) &&
         control::from_hex(j["signature"].get<std::string>(), &h->signature);
}

bool load_export(const std::string& path, json* out, std::string* error) {
  std::ifstream f(path);
  if (!f) {
    *error = "cannot read " + path;
    return false;
  }
  *out = json::parse(f, nullptr, false);
  if (out->is_discarded() || !out->is_object() ||
      out->value("format", "") != "rgpu-ledger-export-1") {
    *error = path + " is not an rgpu ledger export (JSON, from rgpu ledger export)";
    return false;
  }
  return true;
}

// "" when a receipt entry's body carries a signature by `provider_key` of exactly its totals.
std::string check_provider_signature(const std::string& body_text,
                                     const std::string& provider_key) {
  json b = json::parse(body_text, nullptr, false);
  if (!b.is_object()) return "its body is not a JSON object";
  if (!b.contains("provider_signature"))
    return "a receipt without its provider's signature (the pool wrote totals the provider "
           "did not sign: held to bounds, or from an unsigned receipt)";
  control::UsageReceipt r;
  std::string sig;
  try {
    r.lease_id = b.at("lease").get<std::string>();
    r.session_id = b.at("session").get<uint64_t>();
    r.seq = b.at("seq").get<uint64_t>();
    r.final = b.at("final").get<bool>();
    r.wall_ms = b.at("wall_ms").get<uint64_t>();
    r.busy_ns = b.at("busy_ns").get<uint64_t>();
    r.mem_gb_s = b.at("mem_gb_s").get<double>();
    r.mem_peak = b.at("mem_peak").get<uint64_t>();
    r.bytes_in = b.at("bytes_in").get<uint64_t>();
    r.bytes_out = b.at("bytes_out").get<uint64_t>();
    r.calls = b.at("calls").get<uint64_t>();
    if (!control::from_hex(b.at("provider_signature").get<std::string>(), &sig))
      return "its provider signature is not hex";
  } catch (const json::exception&) {
    return "a receipt with a missing or malformed total";
  }
  if (!control::ed25519_verify(control::receipt_message(r), sig, provider_key))
    return "its totals are not the ones the provider key signed";
  return "";
}

int verify(const Args& a) {
  json file;
  std::string err, key;
  if (!load_export(a.pos[0], &file, &err)) return error(err);
  if (!pool_key_from(a, file, &key, &err)) return error(err);
  std::string provider_key;
  if (a.has("--provider-key")) {
    const std::string k = a.get("--provider-key");
    if (!(access(k.c_str(), R_OK) == 0 ? control::read_public_key_file(k, &provider_key, &err)
                                       : control::parse_public_key(k, &provider_key, &err)))
      return error("--provider-key: " + err);
  }
  struct Receipt {
    std::string where, provider_id, why;  // why: "" when the provider key signed it
  };
  std::vector<Receipt> receipts;
  control::TreeHead head;
  if (!file.contains("head") || !read_head(file["head"], &head))
    return error("the export's tree head is malformed");
  if (!control::verify_tree_head(head, key))
    return error("the tree head (size " + std::to_string(head.size) +
                 ") is not signed by this pool key: forged, changed, or from another pool");
  if (!file.contains("entries") || !file["entries"].is_array())
    return error("the export has no entries list");
  int64_t last = -1;
  control::Hash last_leaf;
  size_t n = 0;
  for (const auto& j : file["entries"]) {
    const std::string where =
        "entry " + (j.is_object() && j.contains("index") && j["index"].is_number_unsigned()
                        ? std::to_string(j["index"].get<uint64_t>())
                        : "#" + std::to_string(n));
    pool::LedgerEntry e;
    try {
      e.index = j.at("index").get<uint64_t>();
      e.time = j.at("time").get<int64_t>();
      e.kind = j.at("kind").get<std::string>();
      e.provider_id = j.at("provider_id").get<std::string>();
      e.token_id = j.at("token_id").get<std::string>();
      e.body = j.at("body").get<std::string>();
      if (!control::from_hex(j.at("prev").get<std::string>(), &e.prev) ||
          !control::from_hex(j.at("leaf").get<std::string>(), &e.leaf))
        return error(where + ": a hash is not hex");
    } catch (const json::exception&) {
      return error(where + ": malformed (a field is missing or of the wrong type)");
    }
    if (static_cast<int64_t>(e.index) <= last) return error(where + ": out of order");
    const control::Hash leaf = control::leaf_hash(pool::entry_bytes(e));
    if (leaf != e.leaf)
      return error(where + ": its contents do not match its hash (changed after it was written)");
    if (e.index == 0 && e.prev != control::Hash(32, '\0'))
      return error(where + ": the first entry must chain to nothing");
    if (last >= 0 && static_cast<uint64_t>(last) + 1 == e.index && e.prev != last_leaf)
      return error(where + ": does not chain to entry " + std::to_string(last));
    std::vector<control::Hash> proof;
    try {
      for (const auto& p : j.at("proof")) {
        std::string h;
        if (!control::from_hex(p.get<std::string>(), &h))
          return error(where + ": a proof hash is not hex");
        proof.push_back(h);
      }
    } catch (const json::exception&) {
      return error(where + ": malformed proof");
    }
    if (!control::verify_inclusion(leaf, e.index, head.size, proof, head.root))
      return error(where + ": not in the signed tree of " + std::to_string(head.size) +
                   " entries (its inclusion proof fails)");
    if (!provider_key.empty() && e.kind == "receipt")
      receipts.push_back({where, e.provider_id, check_provider_signature(e.body, provider_key)});
    last = static_cast<int64_t>(e.index);
    last_leaf = leaf;
    ++n;
  }
  printf(
      "ok: %zu entries: each matches its hash, the chain holds, each is in the tree of %llu "
      "entries whose head the pool key %.16s... signed\n",
      n, static_cast<unsigned long long>(head.size), control::to_hex(key).c_str());
  if (provider_key.empty()) return 0;
  // The key's provider: the one whose receipts it signed. Every receipt of that provider must
  // carry its signature of exactly the totals written.
  std::set<std::string> its;
  for (const auto& r : receipts)
    if (r.why.empty()) its.insert(r.provider_id);
  if (its.empty())
    return error("no receipt entry in the file is signed by provider key " +
                 control::to_hex(provider_key).substr(0, 16) + "...");
  size_t ok = 0;
  for (const auto& r : receipts) {
    if (!its.count(r.provider_id)) continue;
    if (!r.why.empty()) return error(r.where + ": " + r.why);
    ++ok;
  }
  printf("ok: all %zu receipt entries of provider %s carry its key's signature of their totals\n",
         ok, its.begin()->c_str());
  return 0;
}

int export_ledger(const Args& a, control::PoolConnection& c) {
  const std::string fmt = a.get("--format", "json");
  if (fmt != "json" && fmt != "csv") return usage_error("--format wants json or csv", kLedgerUsage);
  const int64_t since = parse_since(a.get("--since"));
  if (since < 0) return usage_error("--since wants 24h, 7d, 90m or YYYY-MM-DD", kLedgerUsage);
  json out = {{"format", "rgpu-ledger-export-1"}, {"entries", json::array()}};
  uint64_t from = 0, tree = 0;
  for (;;) {
    auto req = c.session().ledgerEntriesRequest();
    req.setSinceUnix(since);
    req.setFromIndex(from);
    req.setLimit(5000);
    req.setTreeSize(tree);
    auto resp = c.wait(req.send());
    if (refused(resp)) return 1;
    if (tree == 0) {
      tree = resp.getHead().getSize();
      out["head"] = head_json(resp.getHead());
      out["pool_key"] = control::to_hex(raw(resp.getPoolKey()));
      if (tree == 0) break;  // an empty ledger
    }
    for (auto e : resp.getEntries()) {
      json p = json::array();
      for (auto h : e.getProof()) p.push_back(control::to_hex(raw(h)));
      out["entries"].push_back({{"index", e.getIndex()},
                                {"time", e.getTimeUnix()},
                                {"kind", e.getKind().cStr()},
                                {"provider_id", e.getProviderId().cStr()},
                                {"token_id", e.getTokenId().cStr()},
                                {"prev", control::to_hex(raw(e.getPrev()))},
                                {"leaf", control::to_hex(raw(e.getLeaf()))},
                                {"body", e.getBody().cStr()},
                                {"proof", p}});
    }
    if (resp.getNext() == 0) break;
    from = resp.getNext();
    fprintf(stderr, "rgpu: %zu entries...\n", out["entries"].size());
  }
  std::ostringstream text;
  if (fmt == "json") {
    text << out.dump(1) << "\n";
  } else {
    auto csv = [](const std::string& s) {
      std::string q = "\"";
      for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
      return q + "\"";
    };
    text << "# rgpu ledger export; head size=" << out["head"]["size"]
         << " root=" << out["head"]["root"].get<std::string>()
         << " pool_key=" << out["pool_key"].get<std::string>()
         << " (rgpu ledger verify reads the JSON format)\n";
    text << "index,time,kind,provider_id,token_id,prev,leaf,body,proof\n";
    for (const auto& e : out["entries"]) {
      std::string proof;
      for (const auto& p : e["proof"]) proof += (proof.empty() ? "" : ";") + p.get<std::string>();
      text << e["index"] << "," << e["time"] << "," << e["kind"].get<std::string>() << ","
           << e["provider_id"].get<std::string>() << "," << e["token_id"].get<std::string>() << ","
           << e["prev"].get<std::string>() << "," << e["leaf"].get<std::string>() << ","
           << csv(e["body"].get<std::string>()) << "," << proof << "\n";
    }
  }
  if (a.has("--out")) {
    std::ofstream f(a.get("--out"));
    if (!(f << text.str())) return error("cannot write " + a.get("--out"));
    fprintf(stderr, "rgpu: %zu entries written to %s\n", out["entries"].size(),
            a.get("--out").c_str());
  } else {
    fwrite(text.str().data(), 1, text.str().size(), stdout);
  }
  return 0;
}

int consistency(const Args& a, control::PoolConnection& c) {
  json file;
  std::string err, key;
  if (!load_export(a.pos[0], &file, &err)) return error(err);
  if (!pool_key_from(a, file, &key, &err)) return error(err);
  control::TreeHead old;
  if (!file.contains("head") || !read_head(file["head"], &old))
    return error("the export's tree head is malformed");
  if (!control::verify_tree_head(old, key))
    return error("the earlier head is not signed by this pool key");
  if (old.size == 0) return error("the earlier ledger was empty: any ledger extends it");
  auto req = c.session().ledgerConsistencyRequest();
  req.setFirst(old.size);
  auto resp = c.wait(req.send());
  if (refused(resp)) return 1;
  control::TreeHead now;
  now.size = resp.getHead().getSize();
  now.time = resp.getHead().getTimeUnix();
  now.root = raw(resp.getHead().getRoot());
  now.signature = raw(resp.getHead().getSignature());
  if (!control::verify_tree_head(now, key))
    return error("the pool's current head is not signed by this pool key");
  std::vector<control::Hash> proof;
  for (auto h : resp.getProof()) proof.push_back(raw(h));
  if (!control::verify_consistency(old.size, now.size, old.root, now.root, proof))
    return error("INCONSISTENT: the pool's ledger of " + std::to_string(now.size) +
                 " entries does not extend the one of " + std::to_string(old.size) +
                 " entries you saw (history was rewritten)");
  printf("consistent: the ledger of %llu entries you saw is a prefix of today's %llu entries\n",
         static_cast<unsigned long long>(old.size), static_cast<unsigned long long>(now.size));
  return 0;
}

}  // namespace

int cmd_ledger(const std::string& sub, const Args& a) {
  if (a.help || sub.empty()) {
    printf("%s", kLedgerUsage);
    return sub.empty() && !a.help ? 2 : 0;
  }
  if (sub == "verify") return verify(a);
  if (sub == "export") {  // bad flags are usage errors before the pool is contacted
    const std::string fmt = a.get("--format", "json");
    if (fmt != "json" && fmt != "csv")
      return usage_error("--format wants json or csv", kLedgerUsage);
    if (parse_since(a.get("--since")) < 0)
      return usage_error("--since wants 24h, 7d, 90m or YYYY-MM-DD", kLedgerUsage);
  }
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    if (sub == "export") return export_ledger(a, *c);
    if (sub == "consistency") return consistency(a, *c);
    auto resp = c->wait(c->session().ledgerHeadRequest().send());
    if (refused(resp)) return 1;
    json h = head_json(resp.getHead());
    h["pool_key"] = control::to_hex(raw(resp.getPoolKey()));
    if (a.json) {
      printf("%s\n", h.dump().c_str());
    } else {
      printf("ledger: %llu entries, root %s, signed %s\npool key %s\n",
             static_cast<unsigned long long>(h["size"].get<uint64_t>()),
             h["root"].get<std::string>().c_str(), human_time(h["time"].get<int64_t>()).c_str(),
             h["pool_key"].get<std::string>().c_str());
    }
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

int cmd_payout(const std::string& sub, const Args& a) {
  if (a.help || sub.empty()) {
    printf("%s", kPayoutUsage);
    return sub.empty() && !a.help ? 2 : 0;
  }
  int64_t amount = 0;
  if (!control::parse_money(a.pos[1], &amount) || amount == 0)
    return usage_error("AMOUNT wants credits, e.g. 12.50", kPayoutUsage);
  if (a.get("--ref").empty()) return usage_error("--ref names the transfer", kPayoutUsage);
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    auto req = c->session().recordPayoutRequest();
    req.setProvider(a.pos[0]);
    req.setAmount(amount);
    req.setRef(a.get("--ref"));
    auto resp = c->wait(req.send());
    if (refused(resp)) return 1;
    fprintf(stderr, "rgpu: payout of %s to %s recorded\n", control::format_money(amount).c_str(),
            a.pos[0].c_str());
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

int cmd_earnings(const Args& a) {
  if (a.help) {
    printf("%s", kEarningsUsage);
    return 0;
  }
  auto c = open_pool(a);
  if (!c) return 1;
  try {
    auto resp = c->wait(c->session().balancesRequest().send());
    if (refused(resp)) return 1;
    if (a.json) {
      json out = json::array();
      for (auto b : resp.getRows()) {
        json row = {{"kind", b.getKind().cStr()},
                    {"id", b.getId().cStr()},
                    {"name", b.getName().cStr()},
                    {"sessions", b.getSessions()}};
        if (b.getKind() == "provider") {
          row["earned"] = control::format_money(b.getEarned());
          row["paid"] = control::format_money(b.getPaid());
          row["pending"] = control::format_money(b.getEarned() - b.getPaid());
        } else {
          row["spent"] = control::format_money(b.getSpent());
          row["credit_limit"] = control::format_money(b.getCreditLimit());
        }
        out.push_back(row);
      }
      printf("%s\n", out.dump().c_str());
      return 0;
    }
    Table t({"KIND", "NAME", "ID", "SESSIONS", "EARNED", "PAID", "PENDING", "SPENT"});
    for (auto b : resp.getRows()) {
      const bool p = b.getKind() == "provider";
      t.add({b.getKind().cStr(), b.getName().cStr(), b.getId().cStr(),
             std::to_string(b.getSessions()), p ? control::format_money(b.getEarned()) : "-",
             p ? control::format_money(b.getPaid()) : "-",
             p ? control::format_money(b.getEarned() - b.getPaid()) : "-",
             p ? "-" : control::format_money(b.getSpent())});
    }
    if (t.size() == 0)
      printf("nothing to show for this token\n");
    else
      t.print();
    return 0;
  } catch (const kj::Exception& e) {
    return error(control::explain_error(e, c->endpoint()));
  }
}

}  // namespace rgpu::cli
