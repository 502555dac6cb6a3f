// cli/verbs.cc — see verbs.h.
#include "cli/verbs.h"

#include <algorithm>
#include <set>

namespace rgpu::cli {
namespace {

struct VerbSpec {
  const char* verb;
  const char* sub;  // "" for a verb without sub-verbs
  std::vector<std::string> flags;
  size_t min_pos, max_pos;
  bool json;  // takes --json
};

const std::vector<VerbSpec> kVerbs = {
    {"run",
     "",
     {"-n", "--vram", "--label", "--wait", "--policy", "--max-price", "--compute"},
     0,
     0,
     false},
    {"server", "list", {}, 0, 0, true},
    {"server", "info", {}, 1, 1, true},
    {"server", "drain", {"--reason", "--deadline"}, 1, 1, false},
    {"server", "undrain", {}, 1, 1, false},
    {"server", "remove", {"--force"}, 1, 1, false},
    {"session", "list", {"--all"}, 0, 0, true},
    {"session", "kill", {"--reason"}, 1, 1, false},
    {"vgpu", "list", {}, 0, 0, true},
    {"token", "create", {"--role", "--name"}, 0, 0, true},
    {"token", "list", {}, 0, 0, true},
    {"token", "revoke", {}, 1, 1, false},
    {"token", "limit", {}, 2, 2, false},
    {"rate",
     "set",
     {"--gpu-hour", "--model", "--provider", "--gib-hour", "--gb", "--bill", "--fee"},
     0,
     0,
     false},
    {"rate", "list", {}, 0, 0, true},
    {"ledger", "head", {}, 0, 0, true},
    {"ledger", "export", {"--since", "--format", "--out"}, 0, 0, false},
    {"ledger", "verify", {"--pool-key", "--provider-key"}, 1, 1, false},
    {"ledger", "consistency", {"--pool-key"}, 1, 1, false},
    {"payout", "record", {"--ref"}, 2, 2, false},
    {"earnings", "", {}, 0, 0, true},
    {"status", "", {}, 0, 0, true},
    {"usage", "", {"--since", "--by"}, 0, 0, true},
    {"smi", "", {}, 0, 0, true},
    {"help", "", {}, 0, 0, false},
};

const std::vector<std::string> kCommon = {"--pool", "--token", "--token-file", "--help", "-h"};

size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1u : 0u)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string n = nearest(word, candidates);
  return n.empty() ? "" : "; did you mean " + n + "?";
}

}  // namespace

std::string nearest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = 3;
  for (const auto& c : candidates) {
    const size_t d = distance(word, c);
    if (d < best_d) best = c, best_d = d;
  }
  return best;
}

std::string check_verb(const std::string& verb, const std::string& sub, const Args& a) {
  std::vector<std::string> verbs;
  for (const auto& v : kVerbs)
    if (std::find(verbs.begin(), verbs.end(), v.verb) == verbs.end()) verbs.push_back(v.verb);
  if (std::find(verbs.begin(), verbs.end(), verb) == verbs.end())
    return "unknown verb '" + verb + "'" + did_you_mean(verb, verbs);
  const VerbSpec* spec = nullptr;
  std::vector<std::string> subs;
  for (const auto& v : kVerbs) {
    if (verb != v.verb) continue;
    if (*v.sub) subs.push_back(v.sub);
    if (!*v.sub || sub == v.sub) spec = &v;
  }
  if (!spec) {
    if (a.help || sub.empty()) return "";  // the verb prints its usage
    std::string all;
    for (const auto& s : subs) all += (all.empty() ? "" : ", ") + s;
    return "unknown " + verb + " verb '" + sub + "'" + did_you_mean(sub, subs) +
           " (one of: " + all + ")";
  }
  const std::string name = "rgpu " + verb + (*spec->sub ? " " + sub : "");
  std::vector<std::string> flags = spec->flags;
  flags.insert(flags.end(), kCommon.begin(), kCommon.end());
  if (spec->json) flags.push_back("--json");
  for (const auto& f : a.flags_given) {
    if (std::find(flags.begin(), flags.end(), f) != flags.end()) continue;
    return "`" + name + "` takes no option " + f + did_you_mean(f, flags) + " (see: " + name +
           " --help)";
  }
  if (a.help) return "";
  if (a.pos.size() < spec->min_pos)
    return "`" + name + "` needs " + std::to_string(spec->min_pos) + " argument" +
           (spec->min_pos == 1 ? "" : "s") + " (see: " + name + " --help)";
  if (a.pos.size() > spec->max_pos) {
    if (spec->max_pos == 0 && verb == "run")
      return "`rgpu run` takes its command after --: rgpu run [OPTIONS] -- " + a.pos[0] + " ...";
    return "`" + name + "` takes " +
           (spec->max_pos == 0 ? std::string("no arguments")
                               : "at most " + std::to_string(spec->max_pos) + " argument" +
                                     (spec->max_pos == 1 ? "" : "s")) +
           ", got '" + a.pos[spec->max_pos] + "' (see: " + name + " --help)";
  }
  return "";
}

}  // namespace rgpu::cli
