// `options` in a StartupMessage (see startup_options.hpp). The error texts follow PostgreSQL's
// postgres.c, so that a client sees the same refusal through pgsteer as without it.
#include "pgsteer/protocol/startup_options.hpp"

#include "pgsteer/protocol/sqlstate.hpp"

namespace pgsteer::protocol {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

error_fields fatal(std::string_view code, std::string message, std::string hint = {}) {
  return make_error("FATAL", code, std::move(message), {}, std::move(hint));
}

}  // namespace

std::vector<std::string> split_startup_options(std::string_view options) {
  std::vector<std::string> words;
  std::size_t i = 0;
  for (;;) {
    while (i < options.size() && is_space(options[i])) ++i;
    if (i == options.size()) break;
    std::string word;
    while (i < options.size() && !is_space(options[i])) {
      if (options[i] == '\\' && i + 1 < options.size()) ++i;
      word += options[i++];
    }
    words.push_back(std::move(word));
  }
  return words;
}

startup_options parse_startup_options(std::string_view options) {
  startup_options result;
  const auto words = split_startup_options(options);
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    std::string setting;
    std::string_view flag;
    if (word == "-c") {
      flag = "-c";
      if (i + 1 == words.size()) {
        result.error = fatal(sqlstate::syntax_error, "-c requires a value");
        return result;
      }
      setting = words[++i];
    } else if (word.rfind("-c", 0) == 0) {
      flag = "-c";
      setting = word.substr(2);
    } else if (word.rfind("--", 0) == 0 && word.size() > 2) {
      flag = "--";
      setting = word.substr(2);
    } else {
      result.error =
          fatal(sqlstate::feature_not_supported,
                "pgsteer does not pass the command-line switch \"" + word + "\" in options",
                "Set run-time parameters with -c name=value (or --name=value); other switches "
                "cannot be replayed on pooled server connections.");
      return result;
    }
    const auto eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) {
      // PostgreSQL: "--%s requires a value" / "-c %s requires a value".
      result.error = fatal(sqlstate::syntax_error,
                           (flag == "--" ? "--" + setting : "-c " + setting) + " requires a value");
      return result;
    }
    std::string name = setting.substr(0, eq);
    for (auto& c : name) {
      if (c == '-') c = '_';
    }
    result.settings.emplace_back(std::move(name), setting.substr(eq + 1));
  }
  return result;
}

}  // namespace pgsteer::protocol
