// Tests of the services file: the cyrus.conf grammar and the checks of SERVICES, START, EVENTS
// and DAEMON entries.
#include "conf/services.h"

#include <gtest/gtest.h>

#include "tests/conf/temp_dir.h"

namespace cubby::conf {
namespace {

constexpr const char* kRealistic = R"(# cyrus.conf for Cubby
START {
  # recover the store before anyone delivers
  recover	cmd="cubbyctl reconstruct --startup"
}

SERVICES
{
  lmtpunix  cmd="lmtpd" listen="/run/cubby/socket/lmtp" prefork=1 maxchild=20 mode=0660
  lmtp      cmd="lmtpd -a" listen="127.0.0.1:2424" proto=tcp4 prefork=0 maxchild=-1 # TCP
  lmtp6     cmd=lmtpd listen=[::1]:2424 proto=tcp6 babysit=yes maxforkrate=5 maxfds=1024
}

events {
  checkpoint cmd="cubbyctl checkpoint" period=30
  prune      cmd="cubbyctl prune-duplicates" at=0400
}

DAEMON {
  idled cmd="idled" wait=y
}
)";

ServicesFile parsed(std::string_view text, std::vector<std::string>* warnings = nullptr) {
  auto result = parse_services(text, "cyrus.conf", warnings);
  if (!result) ADD_FAILURE() << result.error().str();
  return result ? std::move(result).value() : ServicesFile();
}

std::string error_of(std::string_view text) {
  auto result = parse_services(text, "cyrus.conf");
  return result ? "(parsed)" : result.error().str();
}

ServiceEntry entry(std::map<std::string, std::string> args, std::string name = "lmtp") {
  ServiceEntry e;
  e.name = std::move(name);
  e.args = std::move(args);
  e.file = "cyrus.conf";
  e.line = 7;
  return e;
}

std::string spec_error(std::map<std::string, std::string> args) {
  auto spec = service_spec(entry(std::move(args)));
  return spec ? "(valid)" : spec.error().str();
}

std::string command_error(std::map<std::string, std::string> args) {
  auto spec = command_spec(entry(std::move(args), "prune"));
  return spec ? "(valid)" : spec.error().str();
}

TEST(ConfServices, RealisticFileWithAllFourSections) {
  std::vector<std::string> warnings;
  ServicesFile file = parsed(kRealistic, &warnings);
  EXPECT_TRUE(warnings.empty());

  ASSERT_EQ(file.start.size(), 1u);
  EXPECT_EQ(file.start[0].name, "recover");
  EXPECT_EQ(file.start[0].args.at("cmd"), "cubbyctl reconstruct --startup");
  EXPECT_EQ(file.start[0].line, 4);

  ASSERT_EQ(file.services.size(), 3u);
  const ServiceEntry& unix_entry = file.services[0];
  EXPECT_EQ(unix_entry.name, "lmtpunix");
  EXPECT_EQ(unix_entry.args.at("listen"), "/run/cubby/socket/lmtp");
  EXPECT_EQ(unix_entry.args.at("prefork"), "1");
  EXPECT_EQ(unix_entry.origin(), "cyrus.conf:9");
  EXPECT_EQ(file.services[1].args.at("cmd"), "lmtpd -a");
  EXPECT_EQ(file.services[1].args.size(), 5u);  // the trailing comment is not an argument
  EXPECT_EQ(file.services[2].args.at("listen"), "[::1]:2424");

  ASSERT_EQ(file.events.size(), 2u);
  EXPECT_EQ(file.events[1].args.at("at"), "0400");
  ASSERT_EQ(file.daemons.size(), 1u);
  EXPECT_EQ(file.daemons[0].args.at("wait"), "y");

  auto lmtp6 = service_spec(file.services[2]);
  ASSERT_TRUE(lmtp6) << lmtp6.error().str();
  EXPECT_EQ(lmtp6->argv, std::vector<std::string>{"lmtpd"});
  EXPECT_EQ(lmtp6->proto, "tcp6");
  EXPECT_TRUE(lmtp6->babysit);
  EXPECT_EQ(lmtp6->prefork, 1);  // babysit keeps one ready
  EXPECT_EQ(lmtp6->maxforkrate, 5);
  EXPECT_EQ(lmtp6->maxfds, 1024);

  auto unix_spec = service_spec(unix_entry);
  ASSERT_TRUE(unix_spec) << unix_spec.error().str();
  EXPECT_EQ(unix_spec->mode, 0660);
  EXPECT_EQ(unix_spec->maxchild, 20);
  EXPECT_EQ(unix_spec->proto, "tcp");
  EXPECT_EQ(unix_spec->origin, "cyrus.conf:9");

  auto lmtp = service_spec(file.services[1]);
  ASSERT_TRUE(lmtp);
  EXPECT_EQ(lmtp->argv, (std::vector<std::string>{"lmtpd", "-a"}));
  EXPECT_EQ(lmtp->maxchild, -1);

  auto checkpoint = command_spec(file.events[0]);
  ASSERT_TRUE(checkpoint);
  EXPECT_EQ(checkpoint->period_minutes, 30);
  EXPECT_EQ(checkpoint->at_hhmm, -1);
  auto prune = command_spec(file.events[1]);
  ASSERT_TRUE(prune);
  EXPECT_EQ(prune->at_hhmm, 400);
  auto idled = command_spec(file.daemons[0]);
  ASSERT_TRUE(idled);
  EXPECT_TRUE(idled->wait);
  EXPECT_EQ(idled->origin, "cyrus.conf:20");
}

TEST(ConfServices, LoadFromAFile) {
  testing::TempDir dir;
  auto loaded = load_services(dir.file("cyrus.conf", kRealistic));
  ASSERT_TRUE(loaded) << loaded.error().str();
  EXPECT_EQ(loaded->services.size(), 3u);
  EXPECT_EQ(loaded->services[0].file, dir.path() + "/cyrus.conf");
  auto missing = load_services(dir.path() + "/nope.conf");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().str(),
            dir.path() + "/nope.conf: cannot open: No such file or directory");
}

TEST(ConfServices, CommentsStartAnywhereEvenInsideQuotes) {
  // As Cyrus: the '#' cuts the line before quotes are read, so the quote is never closed.
  EXPECT_EQ(error_of("SERVICES {\n  lmtp cmd=\"lmtpd # the worker\" listen=lmtp\n}\n"),
            "cyrus.conf:2: SERVICES entry \"lmtp\": unterminated quoted value of \"cmd\" (a '#' "
            "inside quotes starts a comment)");
  ServicesFile file =
      parsed("SERVICES { # comment after the brace\n lmtp cmd=lmtpd listen=lmtp#x\n}\n");
  ASSERT_EQ(file.services.size(), 1u);
  EXPECT_EQ(file.services[0].args.at("listen"), "lmtp");
}

TEST(ConfServices, SectionNamesAndBraces) {
  ServicesFile file =
      parsed("services\n\n# the brace comes later\n{\nlmtp cmd=a listen=b\n}\nSTART { }\n");
  EXPECT_EQ(file.services.size(), 1u);
  EXPECT_EQ(file.services[0].line, 5);
  EXPECT_EQ(
      error_of("SERVICE {\n}\n"),
      "cyrus.conf:1: expected a section (START, SERVICES, EVENTS or DAEMON), found \"SERVICE\"");
  EXPECT_EQ(error_of("SERVICES\nlmtp cmd=a listen=b\n}\n"),
            "cyrus.conf:2: expected \"{\" after SERVICES");
  EXPECT_EQ(error_of("START {\n  a cmd=b\n"), "cyrus.conf:1: section START has no closing \"}\"");
  EXPECT_EQ(error_of("START { a cmd=b }\n"), "cyrus.conf:1: entries start on the line after \"{\"");
  EXPECT_EQ(error_of("START {\n} junk\n"), "cyrus.conf:2: unexpected text after \"}\"");
  EXPECT_EQ(error_of("lmtp cmd=lmtpd\n"),
            "cyrus.conf:1: expected a section (START, SERVICES, EVENTS or DAEMON), found \"lmtp\"");
}

TEST(ConfServices, EntrySyntaxErrors) {
  EXPECT_EQ(error_of("SERVICES {\n  lmtp-unix cmd=lmtpd listen=/s\n}\n"),
            "cyrus.conf:2: bad character '-' in name (names are letters and digits)");
  EXPECT_EQ(error_of("SERVICES {\n  lmtp_tcp cmd=lmtpd\n}\n"),
            "cyrus.conf:2: bad character '_' in name (names are letters and digits)");
  EXPECT_EQ(error_of("SERVICES {\n\n  lmtp cmd listen=/s\n}\n"),
            "cyrus.conf:3: SERVICES entry \"lmtp\": expected \"=\" after \"cmd\"");
  EXPECT_EQ(error_of("SERVICES {\n  lmtp cmd=lmtpd listen\n}\n"),
            "cyrus.conf:2: SERVICES entry \"lmtp\": expected \"=\" after \"listen\"");
  EXPECT_EQ(error_of("SERVICES {\n  lmtp max-child=3\n}\n"),
            "cyrus.conf:2: SERVICES entry \"lmtp\": bad character '-' in argument");
  EXPECT_EQ(error_of("SERVICES {\n  lmtp =3\n}\n"),
            "cyrus.conf:2: SERVICES entry \"lmtp\": bad character '=' in argument");
  EXPECT_EQ(
      error_of("SERVICES {\n  lmtp cmd=\"lmtpd\"listen=x\n}\n"),
      "cyrus.conf:2: SERVICES entry \"lmtp\": expected a blank after the quoted value of \"cmd\"");
  EXPECT_EQ(error_of("SERVICES {\n  lmtp cmd=a CMD=b\n}\n"),
            "cyrus.conf:2: SERVICES entry \"lmtp\": key \"cmd\" given twice");
}

TEST(ConfServices, DuplicateServiceIsAnError) {
  EXPECT_EQ(
      error_of(
          "SERVICES {\n  lmtp cmd=a listen=b\n  other cmd=a listen=c\n  LMTP cmd=a listen=d\n}\n"),
      "cyrus.conf:4: duplicate service \"LMTP\" (first at line 2)");
  EXPECT_EQ(
      error_of("SERVICES {\n  lmtp cmd=a listen=b\n}\nSERVICES {\n  lmtp cmd=a listen=b\n}\n"),
      "cyrus.conf:5: duplicate service \"lmtp\" (first at line 2)");
  ServicesFile file = parsed("EVENTS {\n  a cmd=x period=1\n  a cmd=y period=2\n}\n");
  EXPECT_EQ(file.events.size(), 2u);
}

TEST(ConfServices, UnknownKeysAreWarnings) {
  std::vector<std::string> warnings;
  ServicesFile file = parsed(
      "SERVICES {\n  lmtp cmd=lmtpd listen=lmtp qosmarking=x\n}\nDAEMON {\n  d cmd=x period=3\n}\n",
      &warnings);
  EXPECT_EQ(file.services[0].args.at("qosmarking"), "x");
  EXPECT_EQ(warnings,
            (std::vector<std::string>{
                "cyrus.conf:2: SERVICES entry \"lmtp\": unknown key \"qosmarking\" ignored",
                "cyrus.conf:5: DAEMON entry \"d\": unknown key \"period\" ignored"}));
}

TEST(ConfServices, EmptyValuesAndCase) {
  ServicesFile file = parsed("Services {\n  lmtp CMD=\"\" Listen= \n}\n");
  ASSERT_EQ(file.services.size(), 1u);
  EXPECT_EQ(file.services[0].args.at("cmd"), "");
  EXPECT_EQ(file.services[0].args.at("listen"), "");
}

TEST(ConfServices, ServiceSpecValidation) {
  EXPECT_EQ(spec_error({{"listen", "lmtp"}}), "cyrus.conf:7: service \"lmtp\": cmd= is required");
  EXPECT_EQ(spec_error({{"cmd", "  "}, {"listen", "lmtp"}}),
            "cyrus.conf:7: service \"lmtp\": cmd= is empty");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}}), "cyrus.conf:7: service \"lmtp\": listen= is required");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", ""}}),
            "cyrus.conf:7: service \"lmtp\": listen= is required");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"proto", "udp"}}),
            "cyrus.conf:7: service \"lmtp\": proto \"udp\" is not supported (tcp, tcp4 or tcp6)");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"prefork", "two"}}),
            "cyrus.conf:7: service \"lmtp\": prefork \"two\" is not a number");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"prefork", "-1"}}),
            "cyrus.conf:7: service \"lmtp\": prefork \"-1\" is out of range (0 to 2147483647)");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"maxchild", "-2"}}),
            "cyrus.conf:7: service \"lmtp\": maxchild \"-2\" is out of range (-1 to 2147483647)");
  EXPECT_EQ(
      spec_error({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"maxchild", "0"}}),
      "cyrus.conf:7: service \"lmtp\": maxchild \"0\" allows no workers; use -1 for unlimited");
  EXPECT_EQ(
      spec_error({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"maxfds", "9999999999"}}),
      "cyrus.conf:7: service \"lmtp\": maxfds \"9999999999\" is out of range (0 to 2147483647)");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"prefork", "5"}, {"maxchild", "2"}}),
            "cyrus.conf:7: service \"lmtp\": prefork=5 is more than maxchild=2");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"babysit", "sometimes"}}),
            "cyrus.conf:7: service \"lmtp\": babysit \"sometimes\" is not a yes/no value");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", "/s"}, {"mode", "0680"}}),
            "cyrus.conf:7: service \"lmtp\": mode \"0680\" is not an octal mode like 0660");
  EXPECT_EQ(spec_error({{"cmd", "lmtpd"}, {"listen", "/s"}, {"mode", "rw"}}),
            "cyrus.conf:7: service \"lmtp\": mode \"rw\" is not an octal mode like 0660");

  auto defaults = service_spec(entry({{"cmd", "lmtpd  -a"}, {"listen", "lmtp"}}));
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->argv, (std::vector<std::string>{"lmtpd", "-a"}));
  EXPECT_EQ(defaults->proto, "tcp");
  EXPECT_EQ(defaults->prefork, 0);
  EXPECT_EQ(defaults->maxchild, -1);
  EXPECT_EQ(defaults->maxforkrate, 0);
  EXPECT_FALSE(defaults->babysit);
  EXPECT_EQ(defaults->mode, 0);
  EXPECT_EQ(defaults->origin, "cyrus.conf:7");

  auto babysat = service_spec(entry({{"cmd", "lmtpd"}, {"listen", "lmtp"}, {"babysit", "1"}}));
  ASSERT_TRUE(babysat);
  EXPECT_EQ(babysat->prefork, 1);
  EXPECT_EQ(babysat->maxforkrate, 10);

  auto owned = service_spec(entry({{"cmd", "lmtpd"},
                                   {"listen", "/s"},
                                   {"mode", "0600"},
                                   {"owner", "cubby"},
                                   {"group", "postfix"},
                                   {"proto", "TCP6"}}));
  ASSERT_TRUE(owned);
  EXPECT_EQ(owned->mode, 0600);
  EXPECT_EQ(owned->owner, "cubby");
  EXPECT_EQ(owned->group, "postfix");
  EXPECT_EQ(owned->proto, "tcp6");
}

TEST(ConfServices, CommandSpecValidation) {
  EXPECT_EQ(command_error({{"period", "5"}}), "cyrus.conf:7: entry \"prune\": cmd= is required");
  EXPECT_EQ(command_error({{"cmd", "x"}, {"period", "hourly"}}),
            "cyrus.conf:7: entry \"prune\": period \"hourly\" is not a number");
  EXPECT_EQ(command_error({{"cmd", "x"}, {"at", "2400"}}),
            "cyrus.conf:7: entry \"prune\": at \"2400\" is not a time of day like 0400 (hhmm)");
  EXPECT_EQ(command_error({{"cmd", "x"}, {"at", "0160"}}),
            "cyrus.conf:7: entry \"prune\": at \"0160\" is not a time of day like 0400 (hhmm)");
  EXPECT_EQ(command_error({{"cmd", "x"}, {"at", "4:00"}}),
            "cyrus.conf:7: entry \"prune\": at \"4:00\" is not a time of day like 0400 (hhmm)");
  EXPECT_EQ(command_error({{"cmd", "x"}, {"wait", "perhaps"}}),
            "cyrus.conf:7: entry \"prune\": wait \"perhaps\" is not a yes/no value");
  auto late = command_spec(entry({{"cmd", "cubbyctl prune"}, {"at", "2359"}}, "prune"));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->at_hhmm, 2359);
  EXPECT_EQ(late->argv, (std::vector<std::string>{"cubbyctl", "prune"}));
  EXPECT_EQ(late->period_minutes, 0);
  EXPECT_FALSE(late->wait);
}

}  // namespace
}  // namespace cubby::conf
