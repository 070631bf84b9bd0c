// Include (RFC 6609), ihave (RFC 5463), the runtime limits, and the JSON and text renderings.
#include <gtest/gtest.h>

#include "tests/sieve/sieve_fixture.h"

namespace cubby::sieve {
namespace {

using sieve_test::Harness;

TEST(SieveInclude, PersonalAndGlobal) {
  Harness run;
  run.env.personal_scripts["spam"] =
      "require \"fileinto\"; if header :contains \"subject\" \"lunch\" { fileinto \"Food\"; }";
  run.env.global_scripts["spam"] = "require \"fileinto\"; fileinto \"GlobalSpam\";";
  EXPECT_EQ(run("require \"include\"; include \"spam\";"), "fileinto Food");
  EXPECT_EQ(run("require \"include\"; include :personal \"spam\";"), "fileinto Food");
  EXPECT_EQ(run("require \"include\"; include :global \"spam\";"), "fileinto GlobalSpam");
}

TEST(SieveInclude, ReturnEndsOnlyTheIncludedScript) {
  Harness run;
  run.env.personal_scripts["a"] =
      "require [\"include\", \"fileinto\"]; fileinto \"A1\"; return; fileinto \"A2\";";
  run.env.personal_scripts["s"] = "stop;";
  EXPECT_EQ(run("require [\"include\", \"fileinto\"]; include \"a\"; fileinto \"Main\";"),
            "fileinto A1 | fileinto Main");
  // stop in an included script ends everything (RFC 6609 3.3).
  EXPECT_EQ(run("require [\"include\", \"fileinto\"]; include \"s\"; fileinto \"Main\";"), "keep");
  // return at the top level ends the script.
  EXPECT_EQ(run("require [\"include\", \"fileinto\"]; return; fileinto \"Main\";"), "keep");
}

TEST(SieveInclude, GlobalVariables) {
  Harness run;
  // RFC 6609 section 3.5's example, reduced: the included script sees and sets globals.
  run.env.personal_scripts["set"] =
      "require [\"include\", \"variables\"]; global \"test\"; set \"test\" \"${test}-inc\"; set "
      "\"local\" \"x\";";
  EXPECT_EQ(run("require [\"include\", \"variables\", \"fileinto\"];\n"
                "global \"test\"; set \"test\" \"main\"; include \"set\";\n"
                "fileinto \"${test}|${local}|${global.test}\";"),
            "fileinto main-inc||main-inc");
  // The global namespace can be written to without a `global` declaration.
  run.env.personal_scripts["ns"] =
      "require [\"include\", \"variables\"]; set \"global.n\" \"from-ns\";";
  EXPECT_EQ(run("require [\"include\", \"variables\", \"fileinto\"];\n"
                "include \"ns\"; fileinto \"${global.n}|${n}\";"),
            "fileinto from-ns|");
  EXPECT_EQ(sieve_test::compile_error("require \"variables\"; set \"a.b\" \"x\";"),
            "line 1: bad variable name \"a.b\"");
}

TEST(SieveInclude, OnceOptionalMissingAndLoops) {
  Harness run;
  run.env.personal_scripts["f"] = "require \"fileinto\"; fileinto \"F\";";
  run.env.personal_scripts["loop"] = "require \"include\"; include \"loop\";";
  run.env.personal_scripts["bad"] = "frobnicate;";
  EXPECT_EQ(run("require \"include\"; include :once \"f\"; include :once \"f\";"), "fileinto F");
  EXPECT_EQ(run("require \"include\"; include :optional \"nope\";"), "keep");
  EXPECT_EQ(run("require \"include\"; include \"nope\";"),
            "runtime error: line 1: included script \"nope\" not found");
  EXPECT_EQ(run("require \"include\"; include \"loop\";"),
            "runtime error: line 1: include of \"loop\" loops back to itself");
  EXPECT_EQ(run("require \"include\"; include \"bad\";"),
            "runtime error: line 1: included script \"bad\": line 1: unknown command 'frobnicate'");
  EXPECT_EQ(sieve_test::compile_error("require \"include\"; include \"../x\";"),
            "line 1: bad script name \"../x\" for include");
}

TEST(SieveInclude, DepthLimit) {
  Harness run;
  run.limits.max_include_depth = 2;
  run.env.personal_scripts["a"] = "require \"include\"; include \"b\";";
  run.env.personal_scripts["b"] = "require \"include\"; include \"c\";";
  run.env.personal_scripts["c"] = "discard;";
  EXPECT_EQ(run("require \"include\"; include \"b\";"), "discard");
  EXPECT_EQ(run("require \"include\"; include \"a\";"),
            "runtime error: line 1: includes nested deeper than 2");
}

TEST(SieveIhave, AnswersTruthfully) {
  Harness run;
  // variables and encoded-character change how strings are read: ihave cannot switch them on
  // (as in Cyrus), so it answers false for them unless they were required.
  EXPECT_EQ(run("require [\"ihave\", \"fileinto\"];\n"
                "if ihave \"variables\" { set \"x\" \"1\"; } else { fileinto \"no-variables\"; }"),
            "fileinto no-variables");
  EXPECT_EQ(run("require [\"ihave\", \"fileinto\", \"variables\"];\n"
                "if ihave \"variables\" { set \"x\" \"1\"; fileinto \"v${x}\"; }"),
            "fileinto v1");
  EXPECT_EQ(run("require \"ihave\"; if ihave \"editheader\" { addheader \"X\" \"y\"; } else { "
                "discard; }"),
            "discard");
  EXPECT_EQ(
      run("require \"ihave\"; if ihave [\"fileinto\", \"x-unknown\"] { frob; } else { discard; }"),
      "discard");
  EXPECT_EQ(run("require \"ihave\"; if ihave \"fileinto\" { fileinto \"ok\"; }"), "fileinto ok");
  EXPECT_EQ(run("require \"ihave\"; error \"giving up\";"),
            "runtime error: line 1: error: giving up");
}

TEST(SieveLimits, TimeLimit) {
  Harness run;
  run.limits.max_time = std::chrono::milliseconds(0);
  EXPECT_EQ(run("keep;"), "runtime error: line 1: time limit exceeded");
}

TEST(SieveOutput, Json) {
  Harness run;
  run.env.mailboxes.insert("Work");
  auto o = run.outcome(
      "require [\"fileinto\", \"imap4flags\", \"copy\", \"vacation\"];\n"
      "fileinto :copy :flags \"\\\\Seen\" \"Work\"; redirect \"a@b.org\";\n"
      "vacation :subject \"Away \\\"now\\\"\" \"Back\nsoon\";");
  EXPECT_EQ(to_json(o),
            "{\"actions\":[{\"action\":\"fileinto\",\"mailbox\":\"Work\",\"flags\":[\"\\\\Seen\"],"
            "\"copy\":true,\"create\":false},{\"action\":\"redirect\",\"address\":\"a@b.org\","
            "\"copy\":false},{\"action\":\"vacation\",\"sent\":true,\"to\":\"joe@example.org\","
            "\"from\":\"\",\"subject\":\"Away "
            "\\\"now\\\"\",\"reason\":\"Back\\r\\nsoon\",\"mime\":false}]}");
  EXPECT_EQ(to_json(run.outcome("discard;")), "{\"actions\":[{\"action\":\"discard\"}]}");
  EXPECT_EQ(to_json(run.outcome("")), "{\"actions\":[{\"action\":\"keep\",\"flags\":[]}]}");
  EXPECT_EQ(to_json(run.outcome("require \"reject\"; reject \"no\";")),
            "{\"actions\":[{\"action\":\"reject\",\"reason\":\"no\"}]}");
  EXPECT_EQ(to_json(run.outcome("nope;")),
            "{\"error\":\"compile\",\"message\":\"line 1: unknown command 'nope'\"}");
  EXPECT_EQ(
      to_json(run.outcome("redirect \"x\";")),
      "{\"error\":\"runtime\",\"message\":\"line 1: redirect to an invalid address \\\"x\\\"\"}");
}

TEST(SieveOutput, ErrorsKeepTheMessage) {
  Harness run;
  for (const char* script : {"nope;", "redirect \"x\";", "require \"ihave\"; error \"e\";"}) {
    auto o = run.outcome(script);
    ASSERT_TRUE(o.error.has_value()) << script;
    ASSERT_EQ(o.actions.size(), 1u) << script;
    EXPECT_EQ(o.actions[0].kind, Action::Kind::kKeep);
    EXPECT_TRUE(o.actions[0].implicit);
    EXPECT_TRUE(o.duplicates.empty());
  }
  EXPECT_EQ(to_text(run.outcome("nope;")),
            "compile error: line 1: unknown command 'nope'\nkeep (implicit)\n");
}

TEST(SieveScript, CompiledOnceRunManyTimes) {
  auto script = compile(
      "require \"fileinto\"; if header :contains \"subject\" \"lunch\" { fileinto \"Food\"; }");
  ASSERT_TRUE(script.ok());
  MemoryEnvironment env;
  Envelope envelope{"a@b.org", "user@example.com", {}};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sieve_test::summary(evaluate(script.value(), sieve_test::kMessage, envelope, env)),
              "fileinto Food");
    EXPECT_EQ(
        sieve_test::summary(evaluate(script.value(), "Subject: other\r\n\r\n", envelope, env)),
        "keep");
  }
}

}  // namespace
}  // namespace cubby::sieve
