// The header fields Cubby itself writes into a stored message: Return-Path and Received at the top
// (as Cyrus lmtpd writes them, byte for byte apart from the product name), and Message-ID and Date
// when the client's header section lacks them.
//
// Contract: every function returns complete header lines ending in CRLF (or, for the value
// helpers, a bare value) and never fails. Callers pass only values without CR, LF or NUL; the
// engine guarantees that for the LHLO argument, the AUTH= identity and the addresses.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace cubby::lmtp {

// What the Received header says about a TLS connection, as Cyrus writes it.
struct TlsSummary {
  std::string version;     // "TLSv1.3"
  std::string cipher;      // "TLS_AES_256_GCM_SHA384"
  int bits = 0;            // the cipher's effective bits
  int algorithm_bits = 0;  // the algorithm's bits
  bool verified = false;   // the client presented a certificate that verified
};

struct TraceInfo {
  std::string_view mail_from;  // MAIL FROM address without brackets; "" for <>
  std::string_view servername;
  std::string_view lhlo;            // LHLO argument, "" when none was given
  std::string_view client_host;     // "[unix socket]", "[1.2.3.4]", "name [1.2.3.4]"
  std::string_view auth_id;         // MAIL AUTH= identity, "" for none
  bool serverinfo = true;           // add "(Cubby <version>)"
  const TlsSummary* tls = nullptr;  // with LMTPS, and the TLS details; null without TLS
  bool authenticated = false;       // with LMTPA
  time_t now = 0;
};

// "Return-Path: <addr>\r\n" then the folded Received header:
//   Received: from <lhlo> (<client_host>)\r\n
//   \t (authenticated user=<auth_id> bits=0)\r\n        only when auth_id is non-empty
//   \t by <servername> (Cubby <version>) with LMTP[S][A]\r\n
//   \t (version=<v> cipher=<c> bits=<b>/<a> verify=<YES|NO>);\r\n   only with TLS
//   \t <date>\r\n
// Without TLS the `;` ends the `with` line.
// An address without '@' gets "@<servername>" appended, as Cyrus does.
std::string trace_headers(const TraceInfo& info);

// RFC 5322 date-time in the local time zone, as Cyrus's time_to_rfc5322:
// "Tue, 15 Jul 2026 12:00:00 +0200".
std::string rfc5322_date(time_t t);

// "<cubby-lmtpd-<pid>-<unixtime>-<counter>@<servername>>"; the counter is per process.
std::string generate_message_id(std::string_view servername, time_t now);

}  // namespace cubby::lmtp
