// Tests of the option table: every default is valid under its own type, names are unique, and
// values are checked against their option's type.
#include "conf/options.h"

#include <gtest/gtest.h>

#include <set>

namespace cubby::conf {
namespace {

TEST(ConfOptions, EveryDefaultParsesUnderItsOwnType) {
  for (const OptionSpec& spec : option_table()) {
    EXPECT_EQ(check_value(spec, spec.default_value), std::nullopt)
        << spec.name << " default \"" << spec.default_value << "\"";
  }
}

TEST(ConfOptions, NamesAreUniqueLowerCaseAndDocumented) {
  std::set<std::string_view> seen;
  for (const OptionSpec& spec : option_table()) {
    EXPECT_TRUE(seen.insert(spec.name).second) << "duplicate " << spec.name;
    for (char c : spec.name) {
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << spec.name;
    }
    EXPECT_FALSE(spec.help.empty()) << spec.name;
    EXPECT_EQ(spec.help.find('\n'), std::string_view::npos) << spec.name;
    EXPECT_EQ(spec.choices.empty(), spec.type != OptionType::Enum) << spec.name;
    EXPECT_EQ(family_of(spec.name) == Family::Partition, false) << spec.name;
  }
}

TEST(ConfOptions, HasTheCyrusNamesAndDefaults) {
  struct Expected {
    const char* name;
    OptionType type;
    const char* def;
  };
  for (auto [name, type, def] : {
           Expected{"configdirectory", OptionType::String, "/var/lib/cubby"},
           Expected{"defaultpartition", OptionType::String, "default"},
           Expected{"serverinfo", OptionType::Enum, "on"},
           Expected{"virtdomains", OptionType::Enum, "off"},
           Expected{"unixhierarchysep", OptionType::Bool, "yes"},
           Expected{"maxmessagesize", OptionType::ByteSize, "0"},
           Expected{"lmtp_max_header_size", OptionType::ByteSize, "1M"},
           Expected{"lmtp_idle_timeout", OptionType::Duration, "360s"},
           Expected{"admins", OptionType::List, ""},
           Expected{"lmtp_max_recipients", OptionType::Int, "1000"},
           Expected{"autocreate_quota", OptionType::Int, "-1"},
           Expected{"sasl_pwcheck_method", OptionType::String, "auxprop"},
           Expected{"tls_versions", OptionType::String, "tls1_2 tls1_3"},
           Expected{"lmtp_allow_networks", OptionType::List, ""},
       }) {
    const OptionSpec* spec = find_option(name);
    ASSERT_NE(spec, nullptr) << name;
    EXPECT_EQ(spec->type, type) << name;
    EXPECT_EQ(spec->default_value, def) << name;
  }
  EXPECT_EQ(find_option("no_such_option"), nullptr);
  EXPECT_EQ(find_option("ADMINS"), nullptr);  // callers lower-case first
}

TEST(ConfOptions, CheckValueSaysWhatIsWrong) {
  EXPECT_EQ(check_value(*find_option("maxmessagesize"), "12Q"),
            "\"12Q\" is not a byte size (a number with an optional K, M or G suffix)");
  EXPECT_EQ(check_value(*find_option("debug"), "maybe"),
            "\"maybe\" is not a yes/no value (yes, no, on, off, 1, 0)");
  EXPECT_EQ(check_value(*find_option("lmtp_max_recipients"), "many"),
            "\"many\" is not a whole number");
  EXPECT_EQ(check_value(*find_option("lmtp_max_recipients"), "0"),
            "\"0\" is out of range (1 to 2147483647)");
  EXPECT_EQ(check_value(*find_option("quotawarn"), "101"), "\"101\" is out of range (0 to 100)");
  EXPECT_EQ(check_value(*find_option("lmtp_idle_timeout"), "soon"),
            "\"soon\" is not a duration (a number with an optional ms, s, m, h or d unit)");
  EXPECT_EQ(check_value(*find_option("virtdomains"), "maybe"),
            "\"maybe\" is not one of: off, userid, on");
  EXPECT_EQ(check_value(*find_option("virtdomains"), "UserID"), std::nullopt);
  EXPECT_EQ(check_value(*find_option("lmtp_allow_networks"), "127.0.0.0/8, ::1"), std::nullopt);
  EXPECT_TRUE(check_value(*find_option("lmtp_allow_networks"), "127.0.0.0/8 localhost"));
  EXPECT_EQ(check_value(*find_option("servername"), "anything at all"), std::nullopt);
}

TEST(ConfOptions, EnumValues) {
  const OptionSpec& spec = *find_option("serverinfo");
  EXPECT_EQ(enum_values(spec), (std::vector<std::string_view>{"on", "min", "off"}));
  EXPECT_EQ(enum_value(spec, "MIN"), "min");
  EXPECT_EQ(enum_value(spec, "max"), std::nullopt);
}

TEST(ConfOptions, Families) {
  EXPECT_EQ(family_of("partition-default"), Family::Partition);
  EXPECT_EQ(family_of("partition-"), Family::None);
  EXPECT_EQ(family_of("sasl_saslauthd_path"), Family::Sasl);
  EXPECT_EQ(family_of("sasl_"), Family::None);
  EXPECT_EQ(family_of("lmtp_admins"), Family::None);
  EXPECT_EQ(check_family_value("partition-default", "/var/spool/cubby"), std::nullopt);
  EXPECT_EQ(check_family_value("partition-default", "spool"),
            "\"spool\" is not an absolute directory path");
  EXPECT_EQ(check_family_value("sasl_anything", "free form"), std::nullopt);
}

}  // namespace
}  // namespace cubby::conf
