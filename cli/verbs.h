// cli/verbs.h — every verb `rgpu` serves and what it accepts, in one table.
//
// Contract: check_verb() runs before a verb does. It refuses (a message for usage_error, exit
// 2) an unknown verb or sub-verb, a flag the verb does not take, and too few or too many
// positional arguments, offering the nearest spelling when there is one ("did you mean
// --json?"); nothing the user typed is silently ignored. --pool, --token, --token-file and
// --help go with every verb; --json with the verbs marked json. A new verb or flag is one
// line in kVerbs (verbs.cc). The verbs themselves trust it: they do not check sub-verbs or
// argument counts again.
#pragma once

#include <string>
#include <vector>

#include "cli/cli.h"

namespace rgpu::cli {

// "" when `verb sub` with `a` fits a verb in the table; else why not.
std::string check_verb(const std::string& verb, const std::string& sub, const Args& a);

// The candidate within edit distance 2 of `word` (the closest; ties: the first), or "".
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace rgpu::cli
