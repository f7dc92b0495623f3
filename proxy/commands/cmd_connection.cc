// Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET and CLIENT. They change only
// the ClientState of the connection that sent them; the connection acts on it (RESP version,
// close after reply).
#include <cstdio>
#include <string>

#include "proxy/commands/commands.h"

namespace strata::proxy {
namespace {

constexpr std::string_view kErrWrongPass =
    "WRONGPASS invalid username-password pair or user is disabled.";
constexpr std::string_view kErrBadClientName =
    "ERR Client names cannot contain spaces, newlines or special characters.";

// Compares without an early exit, so the time taken does not reveal the matching prefix.
bool equals_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// Redis's ACLAuthenticateUser for the one user strata has: "default", with requirepass as its
// password, or with no password at all (anything is accepted) when none is configured.
bool authenticate(const ServerView& server, std::string_view user, std::string_view password) {
  if (user != "default") return false;
  return server.requirepass.empty() || equals_constant_time(password, server.requirepass);
}

// Redis's validateClientName: printable ASCII without spaces.
bool valid_client_name(std::string_view name) {
  for (char c : name) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

}  // namespace

void cmd_ping(CommandContext& ctx, Args args) {
  if (args.size() > 2) {
    reply_arity(*ctx.out, "ping");
  } else if (args.size() == 1) {
    ctx.out->simple("PONG");
  } else {
    ctx.out->bulk(args[1]);
  }
}

void cmd_echo(CommandContext& ctx, Args args) { ctx.out->bulk(args[1]); }

namespace {

struct HelloOptions {
  int64_t version = 0;  // 0: keep the connection's
  bool has_auth = false;
  std::string_view user;
  std::string_view password;
  bool has_name = false;
  std::string_view name;
};

// Redis's helloCommand argument loop; replies the error and returns false on a bad line.
bool parse_hello(protocol::ReplyWriter& out, Args args, HelloOptions* o) {
  size_t next = 1;
  if (args.size() >= 2) {
    if (!string2ll(args[next++], &o->version)) {
      out.error("ERR Protocol version is not an integer or out of range");
      return false;
    }
    if (o->version < 2 || o->version > 3) {
      out.error("NOPROTO unsupported protocol version");
      return false;
    }
  }
  for (size_t j = next; j < args.size(); ++j) {
    const size_t more = args.size() - 1 - j;
    if (option_is(args[j], "auth") && more >= 2) {
      o->has_auth = true;
      o->user = args[j + 1];
      o->password = args[j + 2];
      j += 2;
    } else if (option_is(args[j], "setname") && more >= 1) {
      o->has_name = true;
      o->name = args[++j];
      if (!valid_client_name(o->name)) {
        out.error(kErrBadClientName);
        return false;
      }
    } else {
      std::string msg = "ERR Syntax error in HELLO option '";
      msg += args[j].substr(0, args[j].find('\0'));
      msg += "'";
      out.error(msg);
      return false;
    }
  }
  return true;
}

void reply_hello(CommandContext& ctx) {
  protocol::ReplyWriter& out = *ctx.out;
  out.map_header(7);
  out.bulk("server");
  out.bulk("redis");
  out.bulk("version");
  out.bulk(ctx.server->version);
  out.bulk("proto");
  out.integer(ctx.client->resp_version);
  out.bulk("id");
  out.integer(static_cast<int64_t>(ctx.client->id));
  // Clients branch on Redis's modes; strata behaves as a standalone master either way.
  out.bulk("mode");
  out.bulk("standalone");
  out.bulk("role");
  out.bulk("master");
  out.bulk("modules");
  out.array_header(0);
}

}  // namespace

void cmd_hello(CommandContext& ctx, Args args) {
  HelloOptions o;
  if (!parse_hello(*ctx.out, args, &o)) return;
  if (o.has_auth) {
    if (!authenticate(*ctx.server, o.user, o.password)) {
      ctx.out->error(kErrWrongPass);
      return;
    }
    ctx.client->authenticated = true;
  }
  if (!ctx.client->authenticated) {
    ctx.out->error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time");
    return;
  }
  if (o.has_name) ctx.client->name = std::string(o.name);
  if (o.version != 0) {
    ctx.client->resp_version = static_cast<int>(o.version);
    ctx.out->set_resp_version(static_cast<int>(o.version));
  }
  reply_hello(ctx);
}

void cmd_auth(CommandContext& ctx, Args args) {
  if (args.size() > 3) {
    ctx.out->error(kErrSyntax);
    return;
  }
  std::string_view user = "default";
  std::string_view password;
  if (args.size() == 2) {
    if (ctx.server->requirepass.empty()) {
      ctx.out->error(
          "ERR AUTH <password> called without any password configured for the default user. "
          "Are you sure your configuration is correct?");
      return;
    }
    password = args[1];
  } else {
    user = args[1];
    password = args[2];
  }
  if (!authenticate(*ctx.server, user, password)) {
    ctx.out->error(kErrWrongPass);
    return;
  }
  ctx.client->authenticated = true;
  ctx.out->ok();
}

void cmd_select(CommandContext& ctx, Args args) {
  int64_t id = 0;
  if (!parse_int_or_reply(*ctx.out, args[1], &id)) return;
  if (id < INT32_MIN || id > INT32_MAX) {
    ctx.out->error("ERR value is out of range, value must between -2147483648 and 2147483647");
    return;
  }
  // strata keeps a single keyspace: Redis's database 0.
  if (id != 0) {
    ctx.out->error("ERR DB index is out of range");
    return;
  }
  ctx.out->ok();
}

void cmd_quit(CommandContext& ctx, Args) {
  ctx.client->close_after_reply = true;
  ctx.out->ok();
}

// Redis's clearClientConnectionState: back to RESP2, no name, and authenticated only if the
// default user needs no password.
void cmd_reset(CommandContext& ctx, Args) {
  ctx.client->resp_version = 2;
  ctx.out->set_resp_version(2);
  ctx.client->name.clear();
  ctx.client->authenticated = ctx.server->requirepass.empty();
  ctx.out->simple("RESET");
}

namespace {

struct ClientSubcommand {
  std::string_view name;
  int arity;
};

// CLIENT's subcommands and their arity in Redis 7.0.
constexpr ClientSubcommand kClientSubcommands[] = {
    {"caching", 3},   {"getname", 2},      {"getredir", 2}, {"help", 2},
    {"id", 2},        {"info", 2},         {"kill", -3},    {"list", -2},
    {"no-evict", 3},  {"pause", -3},       {"reply", 3},    {"setname", 3},
    {"tracking", -3}, {"trackinginfo", 2}, {"unblock", -3}, {"unpause", 2},
};

constexpr std::string_view kClientHelp[] = {
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
};

// One line of CLIENT LIST / CLIENT INFO, in Redis 7.0's field order. strata does not track
// buffers per client here, so those fields are 0.
std::string client_info_line(const CommandContext& ctx, std::string_view cmd) {
  const ClientState& c = *ctx.client;
  const int64_t age_s = c.created_ms > 0 ? (ctx.store->now_ms() - c.created_ms) / 1000 : 0;
  char head[64];
  std::snprintf(head, sizeof(head), "id=%llu addr=", static_cast<unsigned long long>(c.id));
  std::string line = head;
  line += c.addr;
  line += " laddr=";
  line += c.laddr;
  line += " fd=0 name=";
  line += c.name;
  char tail[512];
  std::snprintf(tail, sizeof(tail),
                " age=%lld idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 "
                "argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r "
                "cmd=%.*s user=default redir=-1 resp=%d\n",
                static_cast<long long>(age_s), static_cast<int>(cmd.size()), cmd.data(),
                c.resp_version);
  line += tail;
  return line;
}

void client_list(CommandContext& ctx, Args args) {
  // Options are checked as Redis does; only this connection is listed (workers do not share
  // their client lists).
  if (args.size() == 4 && option_is(args[2], "type")) {
    const std::string_view t = args[3];
    if (!option_is(t, "normal") && !option_is(t, "master") && !option_is(t, "replica") &&
        !option_is(t, "slave") && !option_is(t, "pubsub")) {
      std::string msg = "ERR Unknown client type '";
      msg += t;
      msg += "'";
      ctx.out->error(msg);
      return;
    }
    const bool mine = option_is(t, "normal");
    ctx.out->verbatim("txt", mine ? client_info_line(ctx, "client|list") : std::string());
    return;
  }
  if (args.size() > 3 && option_is(args[2], "id")) {
    bool mine = false;
    for (size_t j = 3; j < args.size(); ++j) {
      int64_t id = 0;
      if (!string2ll(args[j], &id) || id <= 0) {
        ctx.out->error("ERR Invalid client ID");
        return;
      }
      mine = mine || static_cast<uint64_t>(id) == ctx.client->id;
    }
    ctx.out->verbatim("txt", mine ? client_info_line(ctx, "client|list") : std::string());
    return;
  }
  if (args.size() != 2) {
    ctx.out->error(kErrSyntax);
    return;
  }
  ctx.out->verbatim("txt", client_info_line(ctx, "client|list"));
}

void client_on_off(CommandContext& ctx, std::string_view value) {
  if (option_is(value, "on") || option_is(value, "off")) {
    ctx.out->ok();
  } else {
    ctx.out->error(kErrSyntax);
  }
}

}  // namespace

namespace {

// CLIENT ID, GETNAME, SETNAME, INFO, LIST, HELP; false if `name` is none of them.
bool client_identity(CommandContext& ctx, std::string_view name, Args args) {
  protocol::ReplyWriter& out = *ctx.out;
  if (name == "id") {
    out.integer(static_cast<int64_t>(ctx.client->id));
  } else if (name == "getname") {
    if (ctx.client->name.empty()) {
      out.null_bulk();
    } else {
      out.bulk(ctx.client->name);
    }
  } else if (name == "setname") {
    if (!valid_client_name(args[2])) {
      out.error(kErrBadClientName);
    } else {
      ctx.client->name = std::string(args[2]);
      out.ok();
    }
  } else if (name == "info") {
    out.verbatim("txt", client_info_line(ctx, "client|info"));
  } else if (name == "list") {
    client_list(ctx, args);
  } else if (name == "help") {
    out.array_header(std::size(kClientHelp));
    for (std::string_view line : kClientHelp) out.simple(line);
  } else {
    return false;
  }
  return true;
}

// The tracking, eviction and reply-mode subcommands, answered as Redis answers a client that
// has never enabled tracking; those that would act on other connections are refused.
void client_modes(CommandContext& ctx, std::string_view name, Args args) {
  protocol::ReplyWriter& out = *ctx.out;
  if (name == "no-evict") {
    client_on_off(ctx, args[2]);
  } else if (name == "reply" && !option_is(args[2], "off") && !option_is(args[2], "skip")) {
    if (option_is(args[2], "on")) {
      out.ok();
    } else {
      out.error(kErrSyntax);
    }
  } else if (name == "getredir") {
    out.integer(-1);  // no tracking redirection
  } else if (name == "trackinginfo") {
    out.map_header(3);
    out.bulk("flags");
    out.set_header(1);
    out.bulk("off");
    out.bulk("redirect");
    out.integer(-1);
    out.bulk("prefixes");
    out.array_header(0);
  } else if (name == "unpause") {
    out.ok();
  } else if (name == "caching") {
    out.error(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN "
        "or OPTOUT mode enabled");
  } else {
    // KILL, PAUSE, REPLY OFF/SKIP, TRACKING, UNBLOCK act on connection machinery strata's
    // workers own.
    std::string msg = "ERR CLIENT ";
    for (char c : name) msg.push_back(static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c));
    msg += " is not supported by strata";
    out.error(msg);
  }
}

}  // namespace

void cmd_client(CommandContext& ctx, Args args) {
  const std::string_view sub = args[1];
  const ClientSubcommand* spec = nullptr;
  for (const ClientSubcommand& s : kClientSubcommands) {
    if (name_is(sub, s.name)) spec = &s;
  }
  if (spec == nullptr) {
    reply_unknown_subcommand(*ctx.out, args[0], sub);
    return;
  }
  const auto argc = static_cast<int>(args.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    reply_arity(*ctx.out, std::string("client|") + std::string(spec->name));
    return;
  }
  if (!client_identity(ctx, spec->name, args)) client_modes(ctx, spec->name, args);
}

}  // namespace strata::proxy
