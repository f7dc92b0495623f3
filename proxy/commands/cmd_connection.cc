// Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET and CLIENT. They change only
// the ClientState of the connection that sent them; the connection acts on it (RESP version,
// close after reply).
#include <algorithm>
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

// The fields of the calling connection, as the command layer knows them (no socket).
ClientInfoFields own_fields(const CommandContext& ctx, std::string_view cmd) {
  ClientInfoFields f;
  f.client = ctx.client;
  f.now_ms = ctx.store->now_ms();
  f.cmd = cmd;
  return f;
}

// Redis's getClientTypeByName.
int8_t client_type(std::string_view name) {
  if (option_is(name, "normal")) return ClientFilter::kNormal;
  if (option_is(name, "slave") || option_is(name, "replica")) return ClientFilter::kReplica;
  if (option_is(name, "pubsub")) return ClientFilter::kPubSub;
  if (option_is(name, "master")) return ClientFilter::kMaster;
  return ClientFilter::kAnyType;
}

void reply_unknown_type(protocol::ReplyWriter& out, std::string_view name) {
  std::string msg = "ERR Unknown client type '";
  msg += name.substr(0, name.find('\0'));
  msg += "'";
  out.error(msg);
}

void client_on_off(CommandContext& ctx, std::string_view value) {
  if (option_is(value, "on") || option_is(value, "off")) {
    ctx.out->ok();
  } else {
    ctx.out->error(kErrSyntax);
  }
}

}  // namespace

std::string client_info_line(const ClientInfoFields& f) {
  const ClientState& c = *f.client;
  const int64_t age_s = c.created_ms > 0 ? (f.now_ms - c.created_ms) / 1000 : 0;
  const int64_t idle_s =
      f.last_interaction_ms > 0 ? std::max<int64_t>(0, (f.now_ms - f.last_interaction_ms) / 1000)
                                : 0;
  std::string flags(f.upstream_flags);
  if (f.closing) flags += 'c';
  if (c.no_evict) flags += 'e';
  if (flags.empty()) flags = "N";
  char head[64];
  std::snprintf(head, sizeof(head), "id=%llu addr=", static_cast<unsigned long long>(c.id));
  std::string line = head;
  line += c.addr;
  line += " laddr=";
  line += c.laddr;
  line += " fd=" + std::to_string(f.fd) + " name=";
  line += c.name;
  char tail[512];
  std::snprintf(tail, sizeof(tail),
                " age=%lld idle=%lld flags=%s db=0 sub=0 psub=0 ssub=0 multi=%d qbuf=%llu "
                "qbuf-free=0 argv-mem=%llu multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 "
                "events=r cmd=%.*s user=default redir=-1 resp=%d\n",
                static_cast<long long>(age_s), static_cast<long long>(idle_s), flags.c_str(),
                f.multi, static_cast<unsigned long long>(f.qbuf),
                static_cast<unsigned long long>(f.argv_mem), static_cast<int>(f.cmd.size()),
                f.cmd.data(), c.resp_version);
  line += tail;
  return line;
}

bool parse_client_list(protocol::ReplyWriter& out, Args args, ClientFilter* f) {
  if (args.size() == 4 && option_is(args[2], "type")) {
    f->type = client_type(args[3]);
    if (f->type == ClientFilter::kAnyType) {
      reply_unknown_type(out, args[3]);
      return false;
    }
  } else if (args.size() > 3 && option_is(args[2], "id")) {
    f->list_ids = true;
    for (size_t j = 3; j < args.size(); ++j) {
      int64_t id = 0;
      if (!string2ll(args[j], &id)) {
        out.error("ERR Invalid client ID");
        return false;
      }
      f->ids.push_back(id);
    }
  } else if (args.size() != 2) {
    out.error(kErrSyntax);
    return false;
  }
  return true;
}

bool parse_client_kill(protocol::ReplyWriter& out, Args args, ClientFilter* f) {
  if (args.size() == 3) {  // the old form: CLIENT KILL <addr>; a client may kill itself
    f->addr = args[2];
    f->skipme = false;
    f->old_form = true;
    return true;
  }
  if (args.size() < 3) {
    out.error(kErrSyntax);
    return false;
  }
  for (size_t i = 2; i < args.size(); i += 2) {
    const bool more = i + 1 < args.size();
    const std::string_view opt = args[i];
    const std::string_view v = more ? args[i + 1] : std::string_view();
    int64_t n = 0;
    if (more && option_is(opt, "id")) {
      if (!string2ll(v, &n) || n < 1) {
        out.error("ERR client-id should be greater than 0");
        return false;
      }
      f->id = static_cast<uint64_t>(n);
    } else if (more && option_is(opt, "type")) {
      f->type = client_type(v);
      if (f->type == ClientFilter::kAnyType) {
        reply_unknown_type(out, v);
        return false;
      }
    } else if (more && option_is(opt, "addr")) {
      f->addr = v;
    } else if (more && option_is(opt, "laddr")) {
      f->laddr = v;
    } else if (more && option_is(opt, "user")) {
      if (v != "default") {  // strata has one user (requirepass is its password)
        std::string msg = "ERR No such user '";
        msg += v.substr(0, v.find('\0'));
        msg += "'";
        out.error(msg);
        return false;
      }
      f->user = true;
    } else if (more && option_is(opt, "skipme")) {
      if (option_is(v, "yes")) {
        f->skipme = true;
      } else if (option_is(v, "no")) {
        f->skipme = false;
      } else {
        out.error(kErrSyntax);
        return false;
      }
    } else if (more && option_is(opt, "maxage")) {
      if (!string2ll(v, &n) || n < 0) {
        out.error("ERR maxage is not an integer or out of range");
        return false;
      }
      f->maxage_s = n;
    } else {
      out.error(kErrSyntax);
      return false;
    }
  }
  return true;
}

bool client_selected(const ClientFilter& f, const ClientState& c, bool pubsub, int64_t now_ms,
                     uint64_t self) {
  // Strings compare as strcmp does: up to a NUL byte.
  auto same = [](std::string_view arg, const std::string& have) {
    return arg.substr(0, arg.find('\0')) == have;
  };
  if (!f.addr.empty() && !same(f.addr, c.addr)) return false;
  if (!f.laddr.empty() && !same(f.laddr, c.laddr)) return false;
  if (f.type != ClientFilter::kAnyType &&
      f.type != (pubsub ? ClientFilter::kPubSub : ClientFilter::kNormal)) {
    return false;
  }
  if (f.id != 0 && c.id != f.id) return false;
  if (f.maxage_s != 0 && (now_ms - c.created_ms) / 1000 <= f.maxage_s) return false;
  return !(c.id == self && f.skipme);
}

bool parse_client_unblock(protocol::ReplyWriter& out, Args args, int64_t* id) {
  if (args.size() == 4 && !option_is(args[3], "timeout") && !option_is(args[3], "error")) {
    out.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
    return false;
  }
  if (args.size() > 4) {
    std::string msg = "ERR unknown subcommand or wrong number of arguments for '";
    msg += args[1].substr(0, args[1].find('\0'));
    msg += "'. Try CLIENT HELP.";
    out.error(msg);
    return false;
  }
  return parse_int_or_reply(out, args[2], id);
}

void reply_client_kill(protocol::ReplyWriter& out, const ClientFilter& f, int64_t killed) {
  if (!f.old_form) {
    out.integer(killed);
  } else if (killed == 0) {
    out.error("ERR No such client");
  } else {
    out.ok();
  }
}

namespace {

// CLIENT LIST/KILL/UNBLOCK as the calling connection alone sees them (the front answers them
// over every client of strata; here, outside a front, only this connection exists).
void client_alone(CommandContext& ctx, std::string_view name, Args args) {
  protocol::ReplyWriter& out = *ctx.out;
  ClientFilter f;
  if (name == "list") {
    if (!parse_client_list(out, args, &f)) return;
    std::string text;
    const ClientInfoFields fields = own_fields(ctx, "client|list");
    if (f.list_ids) {
      for (int64_t id : f.ids) {
        if (static_cast<uint64_t>(id) == ctx.client->id) text += client_info_line(fields);
      }
    } else if (f.type == ClientFilter::kAnyType || f.type == ClientFilter::kNormal) {
      text = client_info_line(fields);
    }
    out.verbatim("txt", text);
  } else if (name == "kill") {
    if (!parse_client_kill(out, args, &f)) return;
    const bool me = client_selected(f, *ctx.client, false, ctx.store->now_ms(), ctx.client->id);
    reply_client_kill(out, f, me ? 1 : 0);
    if (me) ctx.client->close_after_reply = true;
  } else {  // unblock: nothing blocks here
    int64_t id = 0;
    if (parse_client_unblock(out, args, &id)) out.integer(0);
  }
}

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
    out.verbatim("txt", client_info_line(own_fields(ctx, "client|info")));
  } else if (name == "list" || name == "kill" || name == "unblock") {
    client_alone(ctx, name, args);
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
    if (option_is(args[2], "on") || option_is(args[2], "off")) {
      ctx.client->no_evict = option_is(args[2], "on");
    }
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
    // PAUSE, REPLY OFF/SKIP, TRACKING act on connection machinery strata's workers own.
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
