// A throwaway PostgreSQL 15 for tests: initdb in a temp dir (as the postgres user: initdb and
// pg_ctl refuse root), listening on 127.0.0.1 on a free port, fsync off; stop/start on the
// same port to simulate outages; stopped and deleted by the destructor.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace strata::proxy::testing {

class PgTestServer {
 public:
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

  static bool installed() { return access("/usr/lib/postgresql/15/bin/initdb", X_OK) == 0; }

  // Empty on success, else what failed.
  std::string init() {
    char tmpl[] = "/tmp/strata_pg_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return "mkdtemp failed";
    dir_ = tmpl;
    port_ = free_port();
    // PostgreSQL refuses to run as root: as root the cluster belongs to the postgres account;
    // as anyone else it is simply theirs.
    if (geteuid() == 0 && !sh("chown postgres: " + dir_)) return "chown failed";
    if (!as_postgres(std::string(kBinDir) + "/initdb -D " + dir_ +
                     "/data --auth=trust -U postgres -N -E UTF8 > " + dir_ + "/initdb.log 2>&1")) {
      return "initdb failed (see " + dir_ + "/initdb.log)";
    }
    return start() ? "" : "pg_ctl start failed (see " + dir_ + "/pg.log)";
  }

  bool start() {
    return as_postgres(std::string(kBinDir) + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
                       "/pg.log -o \"-p " + std::to_string(port_) + " -k " + dir_ +
                       " -c listen_addresses=127.0.0.1 -c fsync=off\" -w start > /dev/null");
  }

  // mode: "immediate" (crash-like) or "fast" (sessions get 57P01 then the socket closes).
  bool stop(const std::string& mode = "immediate") {
    return as_postgres(std::string(kBinDir) + "/pg_ctl -D " + dir_ + "/data -m " + mode +
                       " -w stop > /dev/null 2>&1");
  }

  // Runs SQL with psql (blocking; for test set-up and checks only). Returns psql's stdout.
  std::string psql(const std::string& sql) {
    std::string cmd = std::string(kBinDir) + "/psql -X -A -t -q -h 127.0.0.1 -p " +
                      std::to_string(port_) + " -U postgres -d postgres -c \"" + sql + "\"";
    std::string out;
    if (FILE* f = popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      pclose(f);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  ~PgTestServer() {
    if (dir_.empty()) return;
    stop();
    sh("rm -rf " + dir_);
  }

  int port() const { return port_; }
  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=postgres";
  }

 private:
  static bool sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }
  bool as_postgres(const std::string& cmd) {
    if (geteuid() != 0) return sh("cd " + dir_ + " && sh -c '" + cmd + "'");
    return sh("cd " + dir_ + " && runuser -u postgres -- sh -c '" + cmd + "'");
  }
  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }

  std::string dir_;
  int port_ = 0;
};

}  // namespace strata::proxy::testing
