// Tests of the headers Cubby adds: Return-Path, Received (Cyrus's folding), Date, Message-ID
// (message_headers.h).
#include "server/lmtp/message_headers.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <regex>

namespace cubby::lmtp {
namespace {

// Runs a test body under a fixed time zone, restoring the previous one.
class FixedZone {
 public:
  explicit FixedZone(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~FixedZone() {
    if (old_) {
      setenv("TZ", old_->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }

 private:
  std::optional<std::string> old_;
};

constexpr time_t kWhen = 1784116800;  // Wed, 15 Jul 2026 12:00:00 UTC

TEST(MessageHeaders, Rfc5322DateInTheLocalZone) {
  {
    FixedZone utc("UTC");
    EXPECT_EQ(rfc5322_date(kWhen), "Wed, 15 Jul 2026 12:00:00 +0000");
    EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  }
  {
    FixedZone berlin("CET-1CEST,M3.5.0,M10.5.0/3");
    EXPECT_EQ(rfc5322_date(kWhen), "Wed, 15 Jul 2026 14:00:00 +0200");
  }
  {
    FixedZone india("IST-5:30");
    EXPECT_EQ(rfc5322_date(kWhen), "Wed, 15 Jul 2026 17:30:00 +0530");
  }
  {
    FixedZone newfoundland("NST3:30");
    EXPECT_EQ(rfc5322_date(kWhen), "Wed, 15 Jul 2026 08:30:00 -0330");
  }
}

TEST(MessageHeaders, ReceivedAsCyrusFoldsIt) {
  FixedZone utc("UTC");
  TraceInfo t;
  t.mail_from = "bob@example.org";
  t.servername = "mail.example.com";
  t.lhlo = "mx.example.com";
  t.client_host = "[unix socket]";
  t.authenticated = true;
  t.now = kWhen;
  EXPECT_EQ(trace_headers(t),
            "Return-Path: <bob@example.org>\r\n"
            "Received: from mx.example.com ([unix socket])\r\n"
            "\t by mail.example.com (Cubby " CUBBY_VERSION
            ") with LMTPA;\r\n"
            "\t Wed, 15 Jul 2026 12:00:00 +0000\r\n");

  t.auth_id = "postman";
  const TlsSummary tls{"TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", 256, 256, true};
  t.tls = &tls;
  t.serverinfo = false;
  t.client_host = "mx.example.com [192.0.2.1]";
  EXPECT_EQ(trace_headers(t),
            "Return-Path: <bob@example.org>\r\n"
            "Received: from mx.example.com (mx.example.com [192.0.2.1])\r\n"
            "\t (authenticated user=postman bits=0)\r\n"
            "\t by mail.example.com with LMTPSA\r\n"
            "\t (version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384 bits=256/256 verify=YES);\r\n"
            "\t Wed, 15 Jul 2026 12:00:00 +0000\r\n");

  t.authenticated = false;
  t.tls = nullptr;
  t.auth_id = "";
  t.lhlo = "";
  EXPECT_EQ(trace_headers(t),
            "Return-Path: <bob@example.org>\r\n"
            "Received: from  (mx.example.com [192.0.2.1])\r\n"
            "\t by mail.example.com with LMTP;\r\n"
            "\t Wed, 15 Jul 2026 12:00:00 +0000\r\n");
}

TEST(MessageHeaders, ReturnPathForms) {
  TraceInfo t;
  t.servername = "mail.example.com";
  t.mail_from = "";
  EXPECT_TRUE(trace_headers(t).starts_with("Return-Path: <>\r\nReceived: "));
  t.mail_from = "MAILER-DAEMON";
  EXPECT_TRUE(trace_headers(t).starts_with("Return-Path: <MAILER-DAEMON@mail.example.com>\r\n"));
  t.mail_from = "\"odd user\"@example.org";
  EXPECT_TRUE(trace_headers(t).starts_with("Return-Path: <\"odd user\"@example.org>\r\n"));
}

TEST(MessageHeaders, GeneratedMessageId) {
  const std::string a = generate_message_id("mail.example.com", kWhen);
  const std::string b = generate_message_id("mail.example.com", kWhen);
  EXPECT_TRUE(std::regex_match(a, std::regex("<cubby-lmtpd-" + std::to_string(getpid()) +
                                             "-1784116800-[0-9]+@mail\\.example\\.com>")))
      << a;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace cubby::lmtp
