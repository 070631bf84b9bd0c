// Return-Path, Received, Message-ID and Date as Cubby writes them; see message_headers.h.
#include "server/lmtp/message_headers.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace cubby::lmtp {

std::string trace_headers(const TraceInfo& info) {
  std::string out;
  out.reserve(256);
  out += "Return-Path: <";
  out += info.mail_from;
  if (!info.mail_from.empty() && info.mail_from.find('@') == std::string_view::npos) {
    out += '@';
    out += info.servername;
  }
  out += ">\r\n";

  out += "Received: from ";
  out += info.lhlo;
  out += " (";
  out += info.client_host;
  out += ")\r\n";
  if (!info.auth_id.empty()) {
    // bits= is the SSF of a SASL security layer; Cubby never negotiates one.
    out += "\t (authenticated user=";
    out += info.auth_id;
    out += " bits=0)\r\n";
  }
  out += "\t by ";
  out += info.servername;
  if (info.serverinfo) {
    out += " (Cubby " CUBBY_VERSION ")";
  }
  out += " with LMTP";
  if (info.tls) out += 'S';
  if (info.authenticated) out += 'A';
  if (info.tls) {
    out += "\r\n\t (version=";
    out += info.tls->version;
    out += " cipher=";
    out += info.tls->cipher;
    out += " bits=";
    out += std::to_string(info.tls->bits);
    out += '/';
    out += std::to_string(info.tls->algorithm_bits);
    out += info.tls->verified ? " verify=YES)" : " verify=NO)";
  }
  out += ";\r\n\t ";
  out += rfc5322_date(info.now);
  out += "\r\n";
  return out;
}

std::string rfc5322_date(time_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm tm {};
  localtime_r(&t, &tm);
  long off = tm.tm_gmtoff / 60;  // minutes east of UTC
  char sign = '+';
  if (off < 0) {
    sign = '-';
    off = -off;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                sign, off / 60, off % 60);
  return buf;
}

std::string generate_message_id(std::string_view servername, time_t now) {
  static std::atomic<uint64_t> counter{0};
  char buf[96];
  std::snprintf(buf, sizeof buf, "<cubby-lmtpd-%ld-%lld-%llu@", static_cast<long>(getpid()),
                static_cast<long long>(now),
                static_cast<unsigned long long>(counter.fetch_add(1, std::memory_order_relaxed)));
  std::string id = buf;
  id += servername;
  id += '>';
  return id;
}

}  // namespace cubby::lmtp
