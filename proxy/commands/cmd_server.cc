// Server commands: COMMAND (Redis 7.0.15's own metadata for each command, see cmd_info_data.cc)
// and TIME. INFO lives in cmd_info.cc.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

#include "proxy/commands/cmd_info_data.h"
#include "proxy/commands/commands.h"
#include "proxy/commands/glob_match.h"

namespace strata::proxy {
namespace {

constexpr std::string_view kCommandHelp[] = {
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
};

struct Subcommand {
  std::string_view name;
  int arity;
};

// COMMAND's subcommands and their arity in Redis 7.0.
constexpr Subcommand kCommandSubcommands[] = {
    {"count", 2}, {"docs", -2}, {"getkeys", -3}, {"getkeysandflags", -3},
    {"help", 2},  {"info", -2}, {"list", -2},
};

// In standalone mode COMMAND describes what strata serves; in proxy mode everything is served
// (natively or upstream).
bool listed(const CommandContext& ctx, const CommandSpec& spec) {
  return spec.native != nullptr || ctx.server->mode != "standalone";
}

// Writes a stored RESP3 value for the connection's protocol: RESP2 has no maps or sets, so
// "%n" becomes "*2n" and "~n" becomes "*n" (what Redis does for a RESP2 client).
void write_resp3_as(protocol::ReplyWriter& out, std::string_view blob) {
  std::string& buf = *out.buffer();
  if (out.resp_version() >= 3) {
    buf.append(blob);
    return;
  }
  size_t i = 0;
  while (i < blob.size()) {
    const size_t eol = blob.find("\r\n", i);
    const std::string_view line = blob.substr(i, eol - i);
    const char type = line[0];
    const std::string_view rest = line.substr(1);
    if (type == '%' || type == '~') {
      uint64_t n = 0;
      for (char c : rest) n = n * 10 + static_cast<uint64_t>(c - '0');
      out.array_header(type == '%' ? n * 2 : n);
      i = eol + 2;
    } else if (type == '$') {
      size_t n = 0;
      for (char c : rest) n = n * 10 + static_cast<size_t>(c - '0');
      buf.append(blob.substr(i, eol + 2 + n + 2 - i));
      i = eol + 2 + n + 2;
    } else {
      buf.append(blob.substr(i, eol + 2 - i));
      i = eol + 2;
    }
  }
}

// An entry in Redis's shape for a command Redis does not have (strata's own, e.g. STRATA).
void write_own_info(protocol::ReplyWriter& out, const CommandSpec& spec) {
  static constexpr std::pair<uint32_t, std::string_view> kFlagNames[] = {
      {kWrite, "write"},   {kReadOnly, "readonly"},      {kAdmin, "admin"},
      {kPubSub, "pubsub"}, {kBlocking, "blocking"},      {kNoAuth, "no_auth"},
      {kFast, "fast"},     {kMovableKeys, "movablekeys"}};
  out.array_header(10);
  out.bulk(spec.name);
  out.integer(spec.arity);
  size_t n = 0;
  for (const auto& [bit, name] : kFlagNames) n += (spec.flags & bit) ? 1 : 0;
  out.set_header(n);
  for (const auto& [bit, name] : kFlagNames) {
    if (spec.flags & bit) out.simple(name);
  }
  out.integer(spec.first_key);
  out.integer(spec.last_key);
  out.integer(spec.key_step);
  out.set_header(0);    // ACL categories
  out.set_header(0);    // tips
  out.array_header(0);  // key specs
  out.array_header(0);  // subcommands
}

void write_info(CommandContext& ctx, const CommandSpec& spec) {
  const CommandInfoBlob* blob = find_command_info(spec.name);
  if (blob == nullptr) {
    write_own_info(*ctx.out, spec);
    return;
  }
  write_resp3_as(*ctx.out, blob->resp3);
}

void command_all(CommandContext& ctx) {
  size_t n = 0;
  for (const CommandSpec& spec : all_commands()) n += listed(ctx, spec) ? 1 : 0;
  ctx.out->array_header(n);
  for (const CommandSpec& spec : all_commands()) {
    if (listed(ctx, spec)) write_info(ctx, spec);
  }
}

void command_info(CommandContext& ctx, Args args) {
  if (args.size() == 2) {
    command_all(ctx);
    return;
  }
  ctx.out->array_header(args.size() - 2);
  for (size_t j = 2; j < args.size(); ++j) {
    const CommandSpec* spec = find_command(args[j]);
    if (spec == nullptr || !listed(ctx, *spec)) {
      ctx.out->null_bulk();
    } else {
      write_info(ctx, *spec);
    }
  }
}

void command_list(CommandContext& ctx, Args args) {
  bool by_pattern = false;
  bool by_category = false;
  std::string_view filter;
  if (args.size() == 5 && option_is(args[2], "filterby")) {
    filter = args[4];
    by_pattern = option_is(args[3], "pattern");
    by_category = option_is(args[3], "aclcat");
    if (!by_pattern && !by_category && !option_is(args[3], "module")) {
      ctx.out->error(kErrSyntax);
      return;
    }
    if (!by_pattern && !by_category) {  // strata loads no modules
      ctx.out->array_header(0);
      return;
    }
  } else if (args.size() != 2) {
    ctx.out->error(kErrSyntax);
    return;
  }
  std::string category = "+@";
  for (char c : filter)
    category.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  category += "\r\n";
  std::vector<std::string_view> names;
  for (const CommandSpec& spec : all_commands()) {
    if (!listed(ctx, spec)) continue;
    if (by_pattern && !glob_match(filter, spec.name, true)) continue;
    if (by_category) {
      const CommandInfoBlob* blob = find_command_info(spec.name);
      if (blob == nullptr || blob->resp3.find(category) == std::string_view::npos) continue;
    }
    names.push_back(spec.name);
  }
  ctx.out->array_header(names.size());
  for (std::string_view name : names) ctx.out->bulk(name);
}

// Keys of a command line by its fixed positions, or EVAL-style "numkeys" for scripts.
void command_getkeys(CommandContext& ctx, Args args) {
  const Args line = args.subspan(2);
  const CommandSpec* spec = find_command(line[0]);
  if (spec == nullptr) {
    ctx.out->error("ERR Invalid command specified");
    return;
  }
  if (!arity_ok(*spec, line.size())) {
    ctx.out->error("ERR Invalid number of arguments specified for command");
    return;
  }
  std::vector<std::string_view> keys;
  command_keys(*spec, line, &keys);
  if (keys.empty()) {
    ctx.out->error("ERR The command has no key arguments");
    return;
  }
  ctx.out->array_header(keys.size());
  for (std::string_view key : keys) ctx.out->bulk(key);
}

}  // namespace

int subcommand_arity(const CommandSpec& spec, std::string_view sub) {
  const CommandInfoBlob* blob = find_command_info(spec.name);
  if (blob == nullptr || sub.empty()) return 0;
  // Subcommand entries carry their full name as a bulk string, then the arity:
  // "$<len>\r\n<container>|<sub>\r\n:<arity>\r\n".
  std::string full(spec.name);
  full.push_back('|');
  for (char c : sub) full.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const std::string needle = "$" + std::to_string(full.size()) + "\r\n" + full + "\r\n:";
  const size_t at = blob->resp3.find(needle);
  if (at == std::string_view::npos) return 0;
  int64_t arity = 0;
  const size_t begin = at + needle.size();
  const size_t end = blob->resp3.find("\r\n", begin);
  if (!string2ll(blob->resp3.substr(begin, end - begin), &arity)) return 0;
  return static_cast<int>(arity);
}

void cmd_command(CommandContext& ctx, Args args) {
  if (args.size() == 1) {
    command_all(ctx);
    return;
  }
  const Subcommand* sub = nullptr;
  for (const Subcommand& s : kCommandSubcommands) {
    if (name_is(args[1], s.name)) sub = &s;
  }
  if (sub == nullptr) {
    reply_unknown_subcommand(*ctx.out, args[0], args[1]);
    return;
  }
  const auto argc = static_cast<int>(args.size());
  if ((sub->arity > 0 && argc != sub->arity) || (sub->arity < 0 && argc < -sub->arity)) {
    reply_arity(*ctx.out, std::string("command|") + std::string(sub->name));
    return;
  }
  if (sub->name == "count") {
    int64_t n = 0;
    for (const CommandSpec& spec : all_commands()) n += listed(ctx, spec) ? 1 : 0;
    ctx.out->integer(n);
  } else if (sub->name == "info") {
    command_info(ctx, args);
  } else if (sub->name == "list") {
    command_list(ctx, args);
  } else if (sub->name == "docs") {
    ctx.out->map_header(0);  // clients use DOCS for hints only; an empty answer is valid
  } else if (sub->name == "getkeys") {
    command_getkeys(ctx, args);
  } else if (sub->name == "help") {
    ctx.out->array_header(std::size(kCommandHelp));
    for (std::string_view line : kCommandHelp) ctx.out->simple(line);
  } else {
    ctx.out->error("ERR COMMAND GETKEYSANDFLAGS is not supported by strata");
  }
}

void cmd_time(CommandContext& ctx, Args) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  char sec[24];
  char usec[24];
  const int ns = std::snprintf(sec, sizeof(sec), "%lld", static_cast<long long>(us / 1000000));
  const int nu = std::snprintf(usec, sizeof(usec), "%lld", static_cast<long long>(us % 1000000));
  ctx.out->array_header(2);
  ctx.out->bulk(std::string_view(sec, static_cast<size_t>(ns)));
  ctx.out->bulk(std::string_view(usec, static_cast<size_t>(nu)));
}

// FUNCTION FLUSH [ASYNC|SYNC]: standalone strata runs no scripts, so it holds no function
// library and flushing succeeds; Redis's own test suite sends it before every test (external
// mode). The other subcommands need Redis (in front of one, FUNCTION is forwarded).
void cmd_function(CommandContext& ctx, Args args) {
  const int arity = subcommand_arity(*find_command("function"), args[1]);
  if (arity == 0) {
    reply_unknown_subcommand(*ctx.out, args[0], args[1]);
    return;
  }
  const auto argc = static_cast<int>(args.size());
  std::string name = "function|";
  for (char c : args[1])
    name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if ((arity > 0 && argc != arity) || (arity < 0 && argc < -arity)) {
    reply_arity(*ctx.out, name);
    return;
  }
  if (name != "function|flush") {
    reply_needs_upstream(*ctx.out, "function");
    return;
  }
  if (argc > 3) {
    ctx.out->error("ERR unknown subcommand or wrong number of arguments for '" +
                   std::string(args[1].substr(0, 128)) + "'. Try FUNCTION HELP.");
    return;
  }
  if (argc == 3 && !option_is(args[2], "sync") && !option_is(args[2], "async")) {
    ctx.out->error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    return;
  }
  ctx.out->simple("OK");
}

}  // namespace strata::proxy
