// parse_admin_command: a small tokenizer (identifiers, quoted identifiers, ';', comments) and
// the grammar of the admin console's commands.
#include "pgsteer/protocol/admin_command.hpp"

#include <array>
#include <utility>
#include <vector>

namespace pgsteer::protocol {

namespace {

struct token {
  std::string text;
  bool quoted = false;
  bool semicolon = false;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool starts_identifier(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

bool continues_identifier(char c) {
  return starts_identifier(c) || (c >= '0' && c <= '9') || c == '$';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool keyword_is(const token& t, std::string_view keyword) {
  if (t.quoted || t.semicolon || t.text.size() != keyword.size()) return false;
  for (std::size_t i = 0; i < keyword.size(); ++i) {
    if (lower(t.text[i]) != keyword[i]) return false;
  }
  return true;
}

// Splits into tokens; false with `error` set on text the console cannot take apart.
bool tokenize(std::string_view sql, std::vector<token>& out, std::string& error) {
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (is_space(c)) {
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      // Block comments nest in PostgreSQL's SQL.
      int depth = 0;
      while (i < sql.size()) {
        if (sql[i] == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (sql[i] == '*' && i + 1 < sql.size() && sql[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
      if (depth != 0) {
        error = "unterminated /* comment";
        return false;
      }
    } else if (c == ';') {
      out.push_back({";", false, true});
      ++i;
    } else if (c == '"') {
      std::string name;
      ++i;
      bool closed = false;
      while (i < sql.size()) {
        if (sql[i] == '"') {
          if (i + 1 < sql.size() && sql[i + 1] == '"') {
            name += '"';
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        name += sql[i++];
      }
      if (!closed) {
        error = "unterminated quoted identifier";
        return false;
      }
      if (name.empty()) {
        error = "zero-length delimited identifier";
        return false;
      }
      out.push_back({std::move(name), true, false});
    } else if (starts_identifier(c) || (c >= '0' && c <= '9')) {
      // A number is taken like a word: a database may be named 2024 (and SELECT 1 is refused
      // as an unknown command, not as a syntax error).
      const std::size_t start = i;
      while (i < sql.size() && continues_identifier(sql[i])) ++i;
      out.push_back({std::string(sql.substr(start, i - start)), false, false});
    } else {
      error = std::string("syntax error at \"") + c + "\"";
      return false;
    }
  }
  return true;
}

admin_parse_result fail(std::string message) {
  admin_parse_result r;
  r.error = std::move(message);
  return r;
}

admin_parse_result unknown(const std::vector<token>& words) {
  std::string text;
  for (const auto& w : words) {
    if (w.semicolon) break;
    if (!text.empty()) text += ' ';
    text += w.quoted ? "\"" + w.text + "\"" : w.text;
  }
  return fail("unknown admin command \"" + text + "\"");
}

}  // namespace

admin_parse_result parse_admin_command(std::string_view sql) {
  std::vector<token> tokens;
  std::string error;
  if (!tokenize(sql, tokens, error)) return fail(error);
  // One command: a semicolon may end it; anything after one is a second command.
  std::vector<token> words;
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    if (!tokens[k].semicolon) {
      words.push_back(tokens[k]);
      continue;
    }
    for (std::size_t rest = k + 1; rest < tokens.size(); ++rest) {
      if (!tokens[rest].semicolon) {
        return fail("the admin console runs one command at a time");
      }
    }
    break;
  }
  admin_parse_result result;
  admin_command command;
  if (words.empty()) {
    result.command = command;
    return result;
  }
  const token& first = words[0];
  if (keyword_is(first, "show")) {
    static constexpr std::array<std::pair<std::string_view, admin_subject>, 9> subjects{{
        {"pools", admin_subject::pools},
        {"clients", admin_subject::clients},
        {"servers", admin_subject::servers},
        {"stats", admin_subject::stats},
        {"databases", admin_subject::databases},
        {"backends", admin_subject::backends},
        {"config", admin_subject::config},
        {"version", admin_subject::version},
        {"help", admin_subject::help},
    }};
    if (words.size() == 2) {
      for (const auto& [name, subject] : subjects) {
        if (keyword_is(words[1], name)) {
          command.verb = admin_verb::show;
          command.subject = subject;
          result.command = command;
          return result;
        }
      }
    }
    return unknown(words);
  }
  auto simple = [&](std::string_view keyword, admin_verb verb) {
    if (!keyword_is(first, keyword)) return false;
    if (words.size() != 1) {
      result =
          fail(std::string(keyword == "reload" ? "RELOAD" : "SHUTDOWN") + " takes no argument");
      return true;
    }
    command.verb = verb;
    result.command = command;
    return true;
  };
  if (simple("reload", admin_verb::reload) || simple("shutdown", admin_verb::shutdown)) {
    return result;
  }
  struct with_database {
    std::string_view keyword;
    std::string_view upper;
    admin_verb verb;
    bool required;
  };
  static constexpr std::array<with_database, 3> verbs{{
      {"pause", "PAUSE", admin_verb::pause, false},
      {"resume", "RESUME", admin_verb::resume, false},
      {"kill", "KILL", admin_verb::kill, true},
  }};
  for (const auto& v : verbs) {
    if (!keyword_is(first, v.keyword)) continue;
    if (words.size() > 2) {
      return fail(std::string(v.upper) + " takes at most one database name");
    }
    if (words.size() == 1 && v.required) {
      return fail(std::string(v.upper) + " needs a database name, as in " + std::string(v.upper) +
                  " app");
    }
    command.verb = v.verb;
    if (words.size() == 2) command.database = words[1].text;
    result.command = command;
    return result;
  }
  return unknown(words);
}

}  // namespace pgsteer::protocol
