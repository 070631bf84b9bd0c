// Script::recipient_independent (sieve.h): false for each feature that reads the recipient
// (envelope "to" and its :user/:detail, an envelope part built from variables, vacation,
// duplicate, mailboxexists, include), true for the 20 rules of scripts/bench's W2S; and for an
// independent script, two recipients with different addresses, mailboxes, histories and personal
// scripts get exactly the same Outcome (what lets delivery evaluate it once per message).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::kMessage;

bool independent(const std::string& source) {
  auto script = compile(source);
  EXPECT_TRUE(script.ok()) << (script.ok() ? "" : script.error().message) << "\n" << source;
  return script.ok() && script.value().recipient_independent();
}

// The W2S script, as scripts/lib/bench.py writes it (its folder put in).
std::string bench_script() {
  std::ifstream in(std::string(CUBBY_SOURCE_DIR) + "/scripts/lib/bench.py");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string py = ss.str();
  const std::string open = "SIEVE_SCRIPT = r\"\"\"";
  const size_t begin = py.find(open);
  if (begin == std::string::npos) return "";
  const size_t end = py.find("\"\"\"", begin + open.size());
  std::string s = py.substr(begin + open.size(), end - begin - open.size());
  const size_t folder = s.find("%s");
  if (folder != std::string::npos) s.replace(folder, 2, "Bench");
  return s;
}

TEST(SieveRecipientDependence, EachFeatureThatReadsTheRecipientCounts) {
  EXPECT_FALSE(independent("require \"envelope\"; if envelope \"to\" \"a@b\" { discard; }"));
  EXPECT_FALSE(independent("require \"envelope\"; if envelope \"TO\" \"a@b\" { discard; }"));
  EXPECT_FALSE(
      independent("require \"envelope\"; if envelope [\"from\", \"to\"] \"a@b\" { discard; }"));
  EXPECT_FALSE(
      independent("require [\"envelope\", \"subaddress\"];\n"
                  "if envelope :detail \"to\" \"lists\" { discard; }"));
  EXPECT_FALSE(
      independent("require [\"envelope\", \"subaddress\"];\n"
                  "if envelope :user \"to\" \"bob\" { discard; }"));
  EXPECT_FALSE(
      independent("require [\"envelope\", \"variables\"]; set \"p\" \"to\";\n"
                  "if envelope \"${p}\" \"a@b\" { discard; }"));
  EXPECT_FALSE(independent("require \"vacation\"; vacation \"away\";"));
  EXPECT_FALSE(independent("require \"duplicate\"; if duplicate { discard; }"));
  EXPECT_FALSE(independent("require \"mailbox\"; if mailboxexists \"Work\" { keep; }"));
  EXPECT_FALSE(independent("require \"include\"; include \"rules\";"));
  EXPECT_FALSE(independent("require \"include\"; include :global \"rules\";"));
  // Deep inside a block or a test list still counts.
  EXPECT_FALSE(
      independent("require [\"envelope\", \"fileinto\"];\n"
                  "if true { if anyof (false, not envelope \"to\" \"x@y\") { stop; } }"));
}

TEST(SieveRecipientDependence, ScriptsThatReadOnlyTheMessageAndTheSenderAreIndependent) {
  EXPECT_TRUE(independent(""));
  EXPECT_TRUE(independent("require \"envelope\"; if envelope \"from\" \"a@b\" { discard; }"));
  EXPECT_TRUE(
      independent("require [\"envelope\", \"subaddress\"];\n"
                  "if envelope :detail \"From\" \"x\" { discard; }"));
  // :detail of a header address is the message's, not the recipient's.
  EXPECT_TRUE(
      independent("require [\"subaddress\", \"fileinto\"];\n"
                  "if address :detail \"to\" \"lists\" { fileinto \"Lists\"; }"));
  EXPECT_TRUE(
      independent("require [\"fileinto\", \"mailbox\", \"copy\", \"imap4flags\"];\n"
                  "fileinto :create :copy :flags \"\\\\Seen\" \"Work\";"));
  EXPECT_TRUE(
      independent("require [\"reject\", \"ihave\"]; if ihave \"vacation\" { reject \"no\"; }"));
  EXPECT_TRUE(independent("redirect \"a@example.org\";"));
  const std::string bench = bench_script();
  ASSERT_NE(bench.find("fileinto \"Bench\""), std::string::npos) << bench;
  EXPECT_TRUE(independent(bench));
}

// Two recipients that differ in every way the Environment and Envelope can differ.
TEST(SieveRecipientDependence, AnIndependentScriptGivesEveryRecipientTheSameOutcome) {
  Envelope alice{"joe@example.org", "alice+lists@example.com", {"alice@example.net"}};
  Envelope bob{"joe@example.org", "bob@example.com", {}};
  MemoryEnvironment a, b;
  a.mailboxes = {"INBOX", "Work", "Bench"};
  b.mailboxes = {"INBOX"};
  a.personal_scripts["rules"] = "discard;";
  const std::vector<std::string> scripts = {
      bench_script(),
      "require [\"fileinto\", \"variables\", \"envelope\"];\n"
      "if envelope :matches \"from\" \"*@*\" { fileinto \"from-${2}\"; }",
      "require [\"fileinto\", \"imap4flags\", \"subaddress\"];\n"
      "if address :detail \"to\" \"\" { addflag \"x\"; } fileinto \"Work\"; keep;",
      "require \"reject\"; if header :contains \"subject\" \"lunch\" { reject \"no lunch\"; }",
  };
  const std::string message =
      "From: sender@example.com\r\nTo: u0@example.com\r\nSubject: Lunch\r\n"
      "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\nhi\r\n";
  for (const auto& source : scripts) {
    auto script = compile(source);
    ASSERT_TRUE(script.ok()) << source;
    ASSERT_TRUE(script.value().recipient_independent()) << source;
    for (const auto& m : {kMessage, message}) {
      const std::string for_alice = to_json(evaluate(script.value(), m, alice, a));
      EXPECT_EQ(for_alice, to_json(evaluate(script.value(), m, bob, b))) << source;
    }
  }
  // The counter-example: the same differences do show when the script reads the recipient.
  auto to = compile("require \"envelope\"; if envelope :localpart \"to\" \"bob\" { discard; }");
  ASSERT_TRUE(to.ok());
  EXPECT_NE(to_json(evaluate(to.value(), kMessage, alice, a)),
            to_json(evaluate(to.value(), kMessage, bob, b)));
}

}  // namespace
}  // namespace cubby::sieve
