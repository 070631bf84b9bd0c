// Tests of the settings file: grammar, typed getters, errors with file:line, warnings, service
// overrides, option families and computed defaults.
#include "conf/settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/conf/temp_dir.h"

namespace cubby::conf {
namespace {

using std::chrono::milliseconds;

Settings parsed(std::string_view text, std::vector<std::string>* warnings = nullptr) {
  auto result = Settings::parse(text, "imapd.conf", warnings);
  if (!result) ADD_FAILURE() << result.error().str();
  return result ? std::move(result).value() : Settings();
}

std::string error_of(std::string_view text) {
  auto result = Settings::parse(text, "imapd.conf");
  if (result) return "(parsed)";
  return result.error().str();
}

std::string hostname() {
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  return name;
}

TEST(ConfSettings, DefaultsComeFromTheTable) {
  Settings s;
  EXPECT_EQ(s.get_string("configdirectory"), "/var/lib/cubby");
  EXPECT_EQ(s.get_string("defaultpartition"), "default");
  EXPECT_FALSE(s.get_bool("hashimapspool"));
  EXPECT_TRUE(s.get_bool("unixhierarchysep"));
  EXPECT_EQ(s.get_string("virtdomains"), "off");
  EXPECT_EQ(s.get_bytes("maxmessagesize"), 0u);
  EXPECT_EQ(s.get_bytes("lmtp_max_header_size"), 1u << 20);
  EXPECT_EQ(s.get_int("lmtp_max_command_length"), 4096);
  EXPECT_EQ(s.get_int("autocreate_quota"), -1);
  EXPECT_EQ(s.get_duration("lmtp_idle_timeout"), milliseconds(360'000));
  EXPECT_EQ(s.get_duration("store_checkpoint_interval"), milliseconds(1000));
  EXPECT_EQ(s.get_list("admins"), std::vector<std::string>{});
  EXPECT_EQ(s.get_string("tls_versions"), "tls1_2 tls1_3");
  EXPECT_EQ(s.path(), "");
}

TEST(ConfSettings, ComputedDefaults) {
  Settings s;
  EXPECT_EQ(s.get_string("servername"), hostname());
  EXPECT_EQ(s.get_string("lmtpsocket"), "/var/lib/cubby/socket/lmtp");
  s = parsed("configdirectory: /srv/cubby/\nservername: mx.example.org\n");
  EXPECT_EQ(s.get_string("lmtpsocket"), "/srv/cubby/socket/lmtp");
  EXPECT_EQ(s.get_string("servername"), "mx.example.org");
  s = parsed("lmtpsocket: /run/cubby/lmtp\n");
  EXPECT_EQ(s.get_string("lmtpsocket"), "/run/cubby/lmtp");
}

TEST(ConfSettings, EveryType) {
  Settings s = parsed(
      "servername: mx.example.org\n"
      "virtdomains: UserID\n"
      "debug: on\n"
      "allowplaintext: 1\n"
      "soft_noauth: false\n"
      "lmtp_max_recipients: 50\n"
      "autocreate_quota: -1\n"
      "maxmessagesize: 10M\n"
      "lmtp_max_header_size: 64k\n"
      "lmtp_idle_timeout: 5m\n"
      "master_shutdown_timeout: 90\n"
      "store_checkpoint_interval: 250ms\n"
      "admins: alice bob, carol\n");
  EXPECT_EQ(s.get_string("servername"), "mx.example.org");
  EXPECT_EQ(s.get_string("virtdomains"), "userid");  // canonical spelling
  EXPECT_TRUE(s.get_bool("debug"));
  EXPECT_TRUE(s.get_bool("allowplaintext"));
  EXPECT_FALSE(s.get_bool("soft_noauth"));
  EXPECT_EQ(s.get_int("lmtp_max_recipients"), 50);
  EXPECT_EQ(s.get_bytes("maxmessagesize"), 10u << 20);
  EXPECT_EQ(s.get_bytes("lmtp_max_header_size"), 64u << 10);
  EXPECT_EQ(s.get_duration("lmtp_idle_timeout"), milliseconds(300'000));
  EXPECT_EQ(s.get_duration("master_shutdown_timeout"), milliseconds(90'000));
  EXPECT_EQ(s.get_duration("store_checkpoint_interval"), milliseconds(250));
  EXPECT_EQ(s.get_list("admins"), (std::vector<std::string>{"alice", "bob", "carol"}));
  EXPECT_EQ(s.path(), "imapd.conf");
}

TEST(ConfSettings, BadValuesNameTheOptionTheValueAndTheLine) {
  EXPECT_EQ(error_of("# a comment\n\nmaxmessagesize: 12Q\n"),
            "imapd.conf:3: option \"maxmessagesize\": \"12Q\" is not a byte size (a number with "
            "an optional K, M or G suffix)");
  EXPECT_EQ(
      error_of("debug: maybe\n"),
      "imapd.conf:1: option \"debug\": \"maybe\" is not a yes/no value (yes, no, on, off, 1, 0)");
  EXPECT_EQ(error_of("\nlmtp_max_recipients: ten\n"),
            "imapd.conf:2: option \"lmtp_max_recipients\": \"ten\" is not a whole number");
  EXPECT_EQ(error_of("quotawarn: 150\n"),
            "imapd.conf:1: option \"quotawarn\": \"150\" is out of range (0 to 100)");
  EXPECT_EQ(error_of("lmtp_idle_timeout: 5 minutes\n"),
            "imapd.conf:1: option \"lmtp_idle_timeout\": \"5 minutes\" is not a duration (a number "
            "with an optional ms, s, m, h or d unit)");
  EXPECT_EQ(error_of("serverinfo: full\n"),
            "imapd.conf:1: option \"serverinfo\": \"full\" is not one of: on, min, off");
  EXPECT_EQ(error_of("lmtp_allow_networks: 10.0.0.0/8 example.org\n"),
            "imapd.conf:1: option \"lmtp_allow_networks\": \"example.org\" is not an IP address or "
            "network (like 192.0.2.0/24 or 2001:db8::/32)");
  EXPECT_EQ(error_of("debug:\n"),
            "imapd.conf:1: option \"debug\": \"\" is not a yes/no value (yes, no, on, off, 1, 0)");
}

TEST(ConfSettings, CommentsBlanksAndWhitespace) {
  Settings s = parsed(
      "# Cubby settings\n"
      "\n"
      "   # an indented comment\n"
      "\t\n"
      "  configdirectory   :   /var/lib/cubby2  \r\n"
      "postuser: bb#not-a-comment\n"
      "servername: host:with:colons\n");
  EXPECT_EQ(s.get_string("configdirectory"), "/var/lib/cubby2");
  EXPECT_EQ(s.get_string("postuser"), "bb#not-a-comment");
  EXPECT_EQ(s.get_string("servername"), "host:with:colons");
  EXPECT_EQ(parsed("").get_string("configdirectory"), "/var/lib/cubby");
  EXPECT_EQ(parsed("debug: yes").get_bool("debug"), true);  // no final newline
}

TEST(ConfSettings, SyntaxErrors) {
  EXPECT_EQ(error_of("debug: yes\n\nthis line has no colon\n"),
            "imapd.conf:3: expected \"key: value\"");
  EXPECT_EQ(error_of(": value\n"), "imapd.conf:1: missing option name before \":\"");
  EXPECT_EQ(error_of("bad key: value\n"), "imapd.conf:1: invalid option name \"bad key\"");
  EXPECT_EQ(error_of("@include: other.conf\n"),
            "imapd.conf:1: @include is not supported; merge the files");
}

TEST(ConfSettings, KeysAreCaseInsensitive) {
  Settings s = parsed("ConfigDirectory: /x\nDEBUG: yes\n");
  EXPECT_EQ(s.get_string("configdirectory"), "/x");
  EXPECT_TRUE(s.get_bool("debug"));
}

TEST(ConfSettings, DuplicateKeyLastWinsWithAWarning) {
  std::vector<std::string> warnings;
  Settings s = parsed("maxmessagesize: 1M\ndebug: no\nMaxMessageSize: 2M\n", &warnings);
  EXPECT_EQ(s.get_bytes("maxmessagesize"), 2u << 20);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(
      warnings[0],
      "imapd.conf:3: option \"maxmessagesize\" given again (first at line 1); the last value wins");
}

TEST(ConfSettings, UnknownKeyIsAWarningNotAnError) {
  std::vector<std::string> warnings;
  Settings s = parsed("debug: yes\nfrobnicate: 3\nfoo_bar_admins: x\n", &warnings);
  EXPECT_TRUE(s.get_bool("debug"));
  EXPECT_EQ(warnings,
            (std::vector<std::string>{"imapd.conf:2: unknown option \"frobnicate\"",
                                      "imapd.conf:3: unknown option \"foo_bar_admins\""}));
  EXPECT_NO_THROW(parsed("frobnicate: 3\n"));  // warnings may be ignored (null)
}

TEST(ConfSettings, ServiceOverrides) {
  std::vector<std::string> warnings;
  Settings s = parsed(
      "admins: root\n"
      "lmtp_admins: mailer postfix\n"
      "lmtp_allowplaintext: yes\n"
      "lmtpunix_maxmessagesize: 5M\n"
      "lmtp_lmtp_max_recipients: 7\n",
      &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(s.get_list("admins"), std::vector<std::string>{"root"});
  EXPECT_EQ(s.get_bytes("maxmessagesize"), 0u);

  s.set_service("lmtp");
  EXPECT_EQ(s.get_list("admins"), (std::vector<std::string>{"mailer", "postfix"}));
  EXPECT_TRUE(s.get_bool("allowplaintext"));
  EXPECT_EQ(s.get_bytes("maxmessagesize"), 0u);
  EXPECT_EQ(s.get_int("lmtp_max_recipients"), 7);

  s.set_service("lmtpunix");
  EXPECT_EQ(s.get_list("admins"), std::vector<std::string>{"root"});
  EXPECT_FALSE(s.get_bool("allowplaintext"));
  EXPECT_EQ(s.get_bytes("maxmessagesize"), 5u << 20);

  s.set_service("LMTP");  // service names compare like keys
  EXPECT_EQ(s.service(), "lmtp");
  EXPECT_TRUE(s.get_bool("allowplaintext"));
}

TEST(ConfSettings, OverrideValuesAreCheckedWithTheOptionsType) {
  EXPECT_EQ(error_of("\nlmtp_maxmessagesize: 12Q\n"),
            "imapd.conf:2: option \"lmtp_maxmessagesize\": \"12Q\" is not a byte size (a number "
            "with an optional K, M or G suffix)");
  EXPECT_EQ(error_of("lmtp_partition-default: relative\n"),
            "imapd.conf:1: option \"lmtp_partition-default\": \"relative\" is not an absolute "
            "directory path");
}

TEST(ConfSettings, Partitions) {
  Settings s = parsed(
      "partition-default: /var/spool/cubby\n"
      "partition-Fast: /ssd/cubby\n"
      "lmtp_partition-default: /var/spool/lmtp\n");
  EXPECT_EQ(s.partitions(), (std::map<std::string, std::string>{{"default", "/var/spool/cubby"},
                                                                {"fast", "/ssd/cubby"}}));
  s.set_service("lmtp");
  EXPECT_EQ(s.partitions().at("default"), "/var/spool/lmtp");
  EXPECT_EQ(
      error_of("partition-default: spool\n"),
      "imapd.conf:1: option \"partition-default\": \"spool\" is not an absolute directory path");
}

TEST(ConfSettings, SaslOptions) {
  std::vector<std::string> warnings;
  Settings s = parsed(
      "sasl_saslauthd_path: /run/saslauthd/mux\n"
      "sasl_mech_list: PLAIN LOGIN\n"
      "lmtp_sasl_auxprop_plugin: sasldb\n",
      &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(s.sasl_option("saslauthd_path"), "/run/saslauthd/mux");
  EXPECT_EQ(s.sasl_option("pwcheck_method"), "auxprop");  // a table option's default
  EXPECT_EQ(s.sasl_option("mech_list"), "PLAIN LOGIN");
  EXPECT_EQ(s.sasl_option("auxprop_plugin"), std::nullopt);
  EXPECT_EQ(s.sasl_option("nothing"), std::nullopt);
  s.set_service("lmtp");
  EXPECT_EQ(s.sasl_option("auxprop_plugin"), "sasldb");
  EXPECT_EQ(Settings().sasl_option("mech_list"),
            std::nullopt);  // empty default: let libsasl2 decide
}

TEST(ConfSettings, GetterMisuseIsABug) {
  Settings s;
  EXPECT_THROW(s.get_string("no_such_option"), std::logic_error);
  EXPECT_THROW(s.get_string("partition-default"), std::logic_error);
  EXPECT_THROW(s.get_int("admins"), std::logic_error);
  EXPECT_THROW(s.get_bool("maxmessagesize"), std::logic_error);
  EXPECT_THROW(s.get_string("debug"), std::logic_error);
  EXPECT_THROW(s.get_duration("lmtp_max_recipients"), std::logic_error);
  EXPECT_THROW(s.get_list("servername"), std::logic_error);
  EXPECT_THROW(s.get_bytes("lmtp_idle_timeout"), std::logic_error);
}

TEST(ConfSettings, LoadFromAFile) {
  testing::TempDir dir;
  std::string path = dir.file("imapd.conf", "configdirectory: /tmp/cubby\n\nmaxmessagesize: 1G\n");
  auto loaded = Settings::load(path);
  ASSERT_TRUE(loaded) << loaded.error().str();
  EXPECT_EQ(loaded->get_bytes("maxmessagesize"), 1u << 30);
  EXPECT_EQ(loaded->path(), path);

  std::string bad = dir.file("bad.conf", "debug: yes\nmaxmessagesize: lots\n");
  auto failed = Settings::load(bad);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().file, bad);
  EXPECT_EQ(failed.error().line, 2);
  EXPECT_EQ(failed.error().str().rfind(bad + ":2: option \"maxmessagesize\": \"lots\"", 0), 0u);

  auto missing = Settings::load(dir.path() + "/missing.conf");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().str(),
            dir.path() + "/missing.conf: cannot open: No such file or directory");
  EXPECT_EQ(Settings::load(dir.path()).error().str(), dir.path() + ": cannot read: Is a directory");
}

TEST(ConfSettings, SetChecksLikeTheFile) {
  Settings s;
  EXPECT_EQ(s.set("maxmessagesize", "2M"), std::nullopt);
  EXPECT_EQ(s.get_bytes("maxmessagesize"), 2u << 20);
  auto bad = s.set("maxmessagesize", "big");
  ASSERT_TRUE(bad);
  EXPECT_EQ(
      bad->str(),
      "option \"maxmessagesize\": \"big\" is not a byte size (a number with an optional K, M or "
      "G suffix)");
  ASSERT_TRUE(s.set("frobnicate", "1"));
  EXPECT_EQ(s.set("frobnicate", "1")->str(), "unknown option \"frobnicate\"");
  EXPECT_EQ(s.set("Lmtp_Admins", "x"), std::nullopt);
}

TEST(ConfSettings, ConfigErrorFormats) {
  EXPECT_EQ((ConfigError{"f.conf", 3, "bad"}.str()), "f.conf:3: bad");
  EXPECT_EQ((ConfigError{"f.conf", 0, "cannot open: x"}.str()), "f.conf: cannot open: x");
  EXPECT_EQ((ConfigError{"", 0, "bad"}.str()), "bad");
}

TEST(ConfSettings, EffectiveListsEveryOptionWithItsOrigin) {
  Settings s = parsed(
      "admins: root\n"
      "lmtp_admins: mailer\n"
      "debug: yes\n"
      "partition-default: /var/spool/cubby\n"
      "sasl_saslauthd_path: /run/mux\n");
  s.set_service("lmtp");
  ASSERT_EQ(s.set("chatty", "yes"), std::nullopt);
  auto rows = s.effective();
  ASSERT_EQ(rows.size(), option_table().size() + 2);
  auto row = [&](const std::string& name) {
    for (const auto& r : rows) {
      if (r.name == name) return r;
    }
    ADD_FAILURE() << "no row " << name;
    return Settings::Effective{};
  };
  EXPECT_EQ(row("admins").value, "mailer");
  EXPECT_EQ(row("admins").origin, "imapd.conf:2 (lmtp_admins)");
  EXPECT_EQ(row("debug").origin, "imapd.conf:3");
  EXPECT_EQ(row("debug").value, "yes");
  EXPECT_EQ(row("chatty").origin, "set");
  EXPECT_EQ(row("maxmessagesize").origin, "default");
  EXPECT_EQ(row("maxmessagesize").value, "0");
  EXPECT_EQ(row("servername").value, hostname());
  EXPECT_FALSE(row("maxmessagesize").help.empty());
  EXPECT_EQ(rows[rows.size() - 2].name, "partition-default");
  EXPECT_EQ(rows[rows.size() - 2].value, "/var/spool/cubby");
  EXPECT_EQ(rows[rows.size() - 2].origin, "imapd.conf:4");
  EXPECT_EQ(rows.back().name, "sasl_saslauthd_path");
  for (size_t i = 0; i < option_table().size(); ++i)
    EXPECT_EQ(rows[i].name, option_table()[i].name);
}

TEST(ConfSettings, FormatEffective) {
  Settings s = parsed("servername: mx \"quoted\"\\\npostuser: tab\there\n");
  std::string table = format_effective(s, false);
  EXPECT_EQ(table.rfind("NAME", 0), 0u);
  EXPECT_NE(table.find("configdirectory"), std::string::npos);
  EXPECT_NE(table.find("imapd.conf:1"), std::string::npos);
  EXPECT_NE(table.find("\"\""), std::string::npos);  // empty values are visible
  std::string json = format_effective(s, true);
  EXPECT_EQ(json.front(), '[');
  EXPECT_NE(json.find("{\"name\": \"servername\", \"value\": \"mx \\\"quoted\\\"\\\\\", "
                      "\"origin\": \"imapd.conf:1\", \"help\": "),
            std::string::npos);
  EXPECT_NE(json.find("\"value\": \"tab\\there\""), std::string::npos);
  EXPECT_EQ(json.substr(json.size() - 4), "}\n]\n");
  size_t objects = 0;
  for (size_t at = json.find("{\"name\""); at != std::string::npos;
       at = json.find("{\"name\"", at + 1)) {
    ++objects;
  }
  EXPECT_EQ(objects, s.effective().size());
  ASSERT_EQ(s.set("postmaster", std::string("a\x01"
                                            "b")),
            std::nullopt);
  EXPECT_NE(format_effective(s, true).find("\"a\\u0001b\""), std::string::npos);
}

}  // namespace
}  // namespace cubby::conf
