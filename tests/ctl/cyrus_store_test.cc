// Reading Cyrus's tools' output (server/ctl/cyrus_store.h), on text captured from Debian's Cyrus
// 3.6.1 (ctl_mboxlist -d, quota -J, mbexamine, cyr_info conf-all). The real tools run in
// tests/install/cyrus_import_test.sh.
#include "server/ctl/cyrus_store.h"

#include <gtest/gtest.h>

namespace cubby::ctl {
namespace {

TEST(CyrusStore, MailboxListDump) {
  const char* dump =
      "{\n"
      "\"user.u0\": {\"name\": \"user.u0\", \"mtime\": \"1796205350\", \"uidvalidity\": "
      "\"1796205351\", \"createdmodseq\": \"1\", \"foldermodseq\": \"1\", \"mbtype\": \"el\", "
      "\"partition\": \"default\", \"acl\": {\"u0\": \"lrswipkxtecdan\", \"anyone\": \"p\"}, "
      "\"uniqueid\": \"q5k5a2ggfmttc7h22bewq980\", \"name_history\": []},\n"
      "\"user.u0.Work\": {\"name\": \"user.u0.Work\", \"uidvalidity\": \"1796205352\", "
      "\"mbtype\": \"el\", \"partition\": \"p2\", \"acl\": {}, \"uniqueid\": \"l51w\", "
      "\"name_history\": [{\"name\": \"user.u0.Old\", \"mtime\": 1}]},\n"
      "\"DELETED.user.u1.5F3A\": {\"name\": \"DELETED.user.u1.5F3A\", \"mbtype\": \"el\"},\n"
      "\"user.u2\": {\"name\": \"user.u2\", \"mbtype\": \"r\"}\n"
      "}\n";
  auto boxes = parse_mboxlist_dump(dump);
  ASSERT_TRUE(boxes.ok()) << boxes.error();
  ASSERT_EQ(boxes->size(), 4u);
  const auto& u0 = (*boxes)[0];
  EXPECT_EQ(u0.name, "user.u0");
  EXPECT_EQ(u0.uidvalidity, 1796205351);
  EXPECT_EQ(u0.partition, "default");
  EXPECT_EQ(u0.uniqueid, "q5k5a2ggfmttc7h22bewq980");
  ASSERT_EQ(u0.acl.size(), 2u);
  EXPECT_EQ(u0.acl[0].first, "u0");
  EXPECT_EQ(u0.acl[0].second, "lrswipkxtecdan");
  EXPECT_EQ(u0.acl[1].first, "anyone");
  EXPECT_TRUE(u0.importable());
  EXPECT_EQ((*boxes)[1].partition, "p2");
  EXPECT_TRUE((*boxes)[1].importable());
  EXPECT_FALSE((*boxes)[2].importable());  // a delayed delete
  EXPECT_FALSE((*boxes)[3].importable());  // remote (murder)

  auto escaped = parse_mboxlist_dump(
      "{\"user.b\": {\"uniqueid\": \"a\\\"b\\\\c\\/d\\n\\u00e9\", \"uidvalidity\": 5}}");
  ASSERT_TRUE(escaped.ok()) << escaped.error();
  EXPECT_EQ((*escaped)[0].name, "user.b");  // the key, when there is no "name"
  EXPECT_EQ((*escaped)[0].uniqueid, "a\"b\\c/d\n\xc3\xa9");
  EXPECT_EQ((*escaped)[0].uidvalidity, 5);  // a number as well as a string
  EXPECT_FALSE(parse_mboxlist_dump("{\"user.a\": {\"name\": ").ok());
  EXPECT_FALSE(parse_mboxlist_dump("user.a 0 default a\tlrs\t").ok());  // Cyrus 2.x format
}

TEST(CyrusStore, QuotaJson) {
  const char* text =
      "{\n  \"user.u0\": {\n    \"STORAGE\": {\n      \"used\": 5257,\n      \"limit\": 4194304\n"
      "    },\n    \"MESSAGE\": {\n      \"used\": 10\n    },\n    \"X-ANNOTATION-STORAGE\": {\n"
      "      \"used\": 0\n    },\n    \"X-NUM-FOLDERS\": {\n      \"used\": 6\n    }\n  },\n"
      "  \"user.u1\": {\n    \"STORAGE\": {\n      \"used\": 0\n    },\n    \"MESSAGE\": {\n"
      "      \"used\": 0,\n      \"limit\": 500\n    }\n  }\n}\n";
  auto roots = parse_quota_json(text);
  ASSERT_TRUE(roots.ok()) << roots.error();
  ASSERT_EQ(roots->size(), 2u);
  EXPECT_EQ((*roots)[0].root, "user.u0");
  EXPECT_EQ((*roots)[0].storage_limit, 4194304);
  EXPECT_EQ((*roots)[0].storage_used, 5257);
  EXPECT_FALSE((*roots)[0].message_limit);
  EXPECT_EQ((*roots)[0].message_used, 10);
  EXPECT_FALSE((*roots)[1].storage_limit);
  EXPECT_EQ((*roots)[1].message_limit, 500);
}

TEST(CyrusStore, Mbexamine) {
  const char* text =
      "Examining user.u3.Work... Mailbox Header Info:\n"
      "  Path to mailbox: /var/spool/cyrus/mail/u/user/u3/Work\n"
      "  Mailbox ACL: u3\tlrswipkxtecdan\t\n"
      "  Unique ID: mvy62vo27lj9iyl6ww9qjrsm\n"
      "  User Flags: [none]\n"
      "\n"
      " Index Header Info:\n"
      "  Generation Number: 0\n"
      "  Minor Version: 17\n"
      "  Number of Messages: 3  Mailbox Size: 1026 bytes  Annotations Size: 0 bytes\n"
      "  UIDValidity: 1796205352  Last UID: 4\n"
      "  Deleted: 0  Answered: 0  Flagged: 0\n"
      "\n"
      " Message Info:\n"
      "000001> UID:00000001   INT_DATE:1796205354 SENTDATE:1796169600 SAVEDATE:1796205354 "
      "SIZE:498   \n"
      "      > HDRSIZE:432    LASTUPD :1796205354 SYSFLAGS:00000000      > CACHEVER:11 "
      "GUID:f27f7415ef7209ad7b3bf347171d08b558185c47 MODSEQ:2  THRID: 0\n"
      "      > INTERNALFLAGS:      > SYSTEMFLAGS: FLAG_SEEN FLAG_ANSWERED\n"
      "      > USERFLAGS: 00000000 00000000 00000000 00000000\n"
      " Envel>{44}(\"Wed, 02 Dec 2026\" \"FLAG_DELETED in a subject\")\n"
      " Subjct>{25}\"FLAG_DELETED in a subject\"\n"
      "000002> UID:00000003   INT_DATE:1796205360 SENTDATE:1796169600 SAVEDATE:1796205360 "
      "SIZE:12345 \n"
      "      > INTERNALFLAGS: FLAG_INTERNAL_EXPUNGED      > SYSTEMFLAGS: FLAG_DELETED\n"
      "000003> UID:00000004   INT_DATE:1796205361 SENTDATE:1796169600 SAVEDATE:1796205361 "
      "SIZE:7     \n"
      "      > INTERNALFLAGS: FLAG_INTERNAL_ARCHIVED      > SYSTEMFLAGS:\n";
  auto index = parse_mbexamine(text);
  ASSERT_TRUE(index.ok()) << index.error();
  EXPECT_EQ(index->path, "/var/spool/cyrus/mail/u/user/u3/Work");
  EXPECT_EQ(index->uidvalidity, 1796205352);
  EXPECT_EQ(index->last_uid, 4);
  ASSERT_EQ(index->records.size(), 3u);
  const auto& r1 = index->records[0];
  EXPECT_EQ(r1.uid, 1);
  EXPECT_EQ(r1.internaldate, 1796205354);
  EXPECT_EQ(r1.size, 498);
  EXPECT_FALSE(r1.expunged);
  EXPECT_EQ(r1.flags, (std::vector<std::string>{"\\Seen", "\\Answered"}));  // not the subject's
  EXPECT_EQ(index->records[1].uid, 3);
  EXPECT_TRUE(index->records[1].expunged);
  EXPECT_TRUE(index->records[2].archived);

  EXPECT_FALSE(parse_mbexamine("Examining user.x... \nIOERROR: opening index\n").ok());
}

TEST(CyrusStore, MbexamineOfManyMailboxes) {
  const char* text =
      "Examining user.a... Mailbox Header Info:\n"
      "  Path to mailbox: /s/user/a\n"
      "  UIDValidity: 11  Last UID: 1\n"
      "000001> UID:00000001   INT_DATE:5 SENTDATE:0 SAVEDATE:5 SIZE:10    \n"
      "Examining user.a.Work... Mailbox Header Info:\n"
      "  Path to mailbox: /s/user/a/Work\n"
      "  UIDValidity: 12  Last UID: 0\n";
  auto sections = split_mbexamine(text);
  ASSERT_EQ(sections.size(), 2u);
  EXPECT_EQ(sections[0].first, "user.a");
  EXPECT_EQ(sections[1].first, "user.a.Work");
  auto a = parse_mbexamine(sections[0].second);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->path, "/s/user/a");
  EXPECT_EQ(a->uidvalidity, 11);
  EXPECT_EQ(a->records.size(), 1u);
  auto work = parse_mbexamine(sections[1].second);
  ASSERT_TRUE(work.ok()) << work.error();
  EXPECT_EQ(work->path, "/s/user/a/Work");
  EXPECT_EQ(work->uidvalidity, 12);
  EXPECT_TRUE(work->records.empty());
  EXPECT_TRUE(split_mbexamine("").empty());
}

TEST(CyrusStore, SettingsAndNames) {
  const char* conf = "admins: cyrusadmin\nunixhierarchysep: yes\nvirtdomains: off\n";
  EXPECT_EQ(cyrus_setting(conf, "unixhierarchysep"), "yes");
  EXPECT_EQ(cyrus_setting(conf, "virtdomains"), "off");
  EXPECT_FALSE(cyrus_setting(conf, "unixhierarchy"));
  EXPECT_EQ(cyrus_external_name("user.alice.Work", false), "user.alice.Work");
  EXPECT_EQ(cyrus_external_name("user.john^doe.Work", true), "user/john.doe/Work");
  EXPECT_EQ(cyrus_external_name("example.com!user.alice", true), "user/alice@example.com");
}

}  // namespace
}  // namespace cubby::ctl
