// Body (RFC 5173), date and index (RFC 5260), duplicate (RFC 7352) and the MIME and date
// parsing under them.
#include <gtest/gtest.h>

#include "sieve/date.h"
#include "sieve/message.h"
#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::Harness;

const std::string kMultipart =
    "From: a@b.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
    "preamble\r\n"
    "--outer\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 au lait\r\n"
    "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
    "--inner\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p>\r\n"
    "--inner--\r\n"
    "--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "c2VjcmV0IHBheWxvYWQ=\r\n"
    "--outer--\r\nepilogue\r\n";

TEST(SieveMessage, WalksMimeParts) {
  Message m(kMultipart);
  ASSERT_EQ(m.parts().size(), 3u);
  EXPECT_EQ(m.parts()[0].type, "text/plain");
  EXPECT_EQ(m.parts()[0].decoded(), "Caf\xC3\xA9 au lait");
  EXPECT_EQ(m.parts()[1].type, "text/html");
  EXPECT_EQ(m.parts()[2].decoded(), "secret payload");
}

TEST(SieveMessage, HeaderUnfoldingKeepsTheWhitespace) {
  Message m("A: one\r\n  two\r\nb :  three \r\n\r\nbody");
  ASSERT_EQ(m.header().size(), 2u);
  EXPECT_EQ(m.header()[0].value, "one  two");
  EXPECT_EQ(m.decoded_values("B")[0], "three");
  EXPECT_EQ(m.body(), "body");
}

TEST(SieveBody, TextRawAndContent) {
  Harness run;
  const std::string req = "require \"body\";\n";
  EXPECT_EQ(run(req + "if body :contains \"caf\xC3\xA9\" { discard; }", kMultipart), "discard");
  EXPECT_EQ(run(req + "if body :text :contains \"there\" { discard; }", kMultipart), "discard");
  // The attachment is not text; :raw sees it encoded.
  EXPECT_EQ(run(req + "if body :contains \"payload\" { discard; }", kMultipart), "keep");
  EXPECT_EQ(run(req + "if body :raw :contains \"c2VjcmV0\" { discard; }", kMultipart), "discard");
  EXPECT_EQ(run(req + "if body :raw :contains \"payload\" { discard; }", kMultipart), "keep");
  EXPECT_EQ(
      run(req + "if body :content \"application\" :contains \"payload\" { discard; }", kMultipart),
      "discard");
  EXPECT_EQ(run(req + "if body :content \"text/html\" :contains \"Caf\" { discard; }", kMultipart),
            "keep");
  // :text reads HTML as text; :content and :raw see the markup.
  const std::string html =
      "Content-Type: text/html\r\n\r\n<html><head><style>p {color: red}</style></head>"
      "<body><p>Hello <b>big</b>&amp;small &lt;world&gt;&#33;</p><!-- hidden --></body></html>\r\n";
  EXPECT_EQ(run(req + "if body :text :contains \"Hello big&small <world>!\" { discard; }", html),
            "discard");
  EXPECT_EQ(
      run(req + "if body :text :contains [\"<b>\", \"color\", \"hidden\"] { discard; }", html),
      "keep");
  EXPECT_EQ(run(req + "if body :content \"text/html\" :contains \"<b>\" { discard; }", html),
            "discard");
  // RFC 5173 example: a plain message's body.
  EXPECT_EQ(run(req + "if body :contains \"noon\" { discard; }"), "discard");
}

TEST(SieveDate, Parts) {
  // Tue, 1 Jul 2003 10:52:37 +0200 is 08:52:37 UTC.
  auto m = parse_rfc5322_date("Tue, 1 Jul 2003 10:52:37 +0200");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->zone_minutes, 120);
  EXPECT_EQ(*date_part(m->utc, 120, "date"), "2003-07-01");
  EXPECT_EQ(*date_part(m->utc, 0, "time"), "08:52:37");
  EXPECT_EQ(*date_part(m->utc, 120, "iso8601"), "2003-07-01T10:52:37+02:00");
  EXPECT_EQ(*date_part(m->utc, 120, "std11"), "Tue, 01 Jul 2003 10:52:37 +0200");
  EXPECT_EQ(*date_part(m->utc, 120, "weekday"), "2");
  EXPECT_EQ(*date_part(m->utc, 120, "julian"), "52821");
  EXPECT_EQ(*date_part(m->utc, -600, "day"), "30");
  EXPECT_EQ(*date_part(m->utc, -600, "zone"), "-1000");
  EXPECT_FALSE(date_part(0, 0, "fortnight").has_value());
  EXPECT_TRUE(parse_rfc5322_date("1 Jul 03 10:52 GMT").has_value());
  EXPECT_FALSE(parse_rfc5322_date("yesterday").has_value());
  EXPECT_FALSE(parse_rfc5322_date("32 Jul 2003 10:52:37 +0000").has_value());
}

TEST(SieveDate, DateAndCurrentdateTests) {
  Harness run;
  const std::string req =
      "require [\"date\", \"relational\", \"variables\", \"fileinto\", \"index\"];\n";
  EXPECT_EQ(run(req + "if date :is \"date\" \"year\" \"2003\" { discard; }"), "discard");
  EXPECT_EQ(run(req + "if date :originalzone :is \"date\" \"hour\" \"10\" { discard; }"),
            "discard");
  EXPECT_EQ(run(req + "if date :is \"date\" \"hour\" \"08\" { discard; }"), "discard");  // zone UTC
  EXPECT_EQ(run(req + "if date :zone \"-0500\" :is \"date\" \"hour\" \"03\" { discard; }"),
            "discard");
  EXPECT_EQ(run(req + "if date :value \"ge\" \"date\" \"date\" \"2003-01-01\" { discard; }"),
            "discard");
  // RFC 5260 example: file by the date the message was written.
  EXPECT_EQ(run(req + "if date :matches \"date\" \"date\" \"*\" { set \"d\" \"${0}\"; }\n"
                      "fileinto \"archive/${d}\";"),
            "fileinto archive/2003-07-01");
  // currentdate uses the environment's clock (1700000000 = 2023-11-14T22:13:20Z).
  EXPECT_EQ(run(req + "if currentdate :is \"date\" \"2023-11-14\" { discard; }"), "discard");
  EXPECT_EQ(run(req + "if currentdate :zone \"+0200\" :is \"date\" \"2023-11-15\" { discard; }"),
            "discard");
  EXPECT_EQ(run(req + "if date :is \"x-nope\" \"year\" \"2003\" { discard; }"), "keep");
  EXPECT_EQ(run(req + "if date :zone \"bad\" :is \"date\" \"year\" \"2003\" { discard; }"),
            "runtime error: line 2: bad :zone \"bad\" (expected +hhmm or -hhmm)");
}

TEST(SieveIndex, PicksOneOccurrence) {
  Harness run;
  const std::string msg = "Received: from a\r\nReceived: from b\r\nReceived: from c\r\n\r\nx\r\n";
  const std::string req = "require [\"index\", \"date\"];\n";
  EXPECT_EQ(run(req + "if header :index 2 :is \"received\" \"from b\" { discard; }", msg),
            "discard");
  EXPECT_EQ(run(req + "if header :index 1 :last :is \"received\" \"from c\" { discard; }", msg),
            "discard");
  EXPECT_EQ(run(req + "if header :index 1 :is \"received\" \"from c\" { discard; }", msg), "keep");
  EXPECT_EQ(run(req + "if header :index 4 :contains \"received\" \"\" { discard; }", msg), "keep");
  EXPECT_EQ(sieve_test::compile_error(req + "if header :last :is \"a\" \"b\" { keep; }"),
            "line 2: :last needs :index");
  EXPECT_EQ(sieve_test::compile_error(req + "if header :index 0 :is \"a\" \"b\" { keep; }"),
            "line 2: :index counts from 1");
}

TEST(SieveDuplicate, SecondDeliveryIsADuplicate) {
  Harness run;
  const std::string script =
      "require [\"duplicate\", \"fileinto\"];\n"
      "if duplicate { fileinto \"Trash\"; }";
  auto first = run.outcome(script);
  EXPECT_EQ(sieve_test::summary(first), "keep");
  ASSERT_EQ(first.duplicates.size(), 1u);
  run.env.record(first);
  EXPECT_EQ(run(script), "fileinto Trash");
  // Another handle is another history; :uniqueid and :header choose the id.
  EXPECT_EQ(run("require \"duplicate\"; if duplicate :handle \"x\" { discard; }"), "keep");
  EXPECT_EQ(run("require \"duplicate\"; if duplicate :header \"subject\" { discard; }"), "keep");
  // Within one run, the second test sees the first (RFC 7352 3.1).
  EXPECT_EQ(run("require \"duplicate\"; if duplicate :uniqueid \"u\" {} if duplicate :uniqueid "
                "\"u\" { discard; }"),
            "discard");
  // No Message-ID: nothing to track, never a duplicate.
  EXPECT_EQ(run("require \"duplicate\"; if duplicate { discard; }", "Subject: x\r\n\r\nx\r\n"),
            "keep");
  // The period is the script's.
  run.env.clock += std::chrono::seconds(100);
  EXPECT_EQ(run("require \"duplicate\"; if duplicate :seconds 50 { discard; }"), "keep");
}

}  // namespace
}  // namespace cubby::sieve
