// The option table and the checks of a value against an option's type; see options.h.
#include "conf/options.h"

#include "conf/values.h"

namespace cubby::conf {
namespace {

constexpr int64_t kIntMax = 2147483647;  // ints are read into `int` by their users

constexpr OptionSpec option(std::string_view name, OptionType type, std::string_view def,
                            std::string_view help) {
  OptionSpec spec;
  spec.name = name;
  spec.type = type;
  spec.default_value = def;
  spec.help = help;
  return spec;
}
constexpr OptionSpec text(std::string_view name, std::string_view def, std::string_view help) {
  return option(name, OptionType::String, def, help);
}
constexpr OptionSpec boolean(std::string_view name, std::string_view def, std::string_view help) {
  return option(name, OptionType::Bool, def, help);
}
constexpr OptionSpec integer(std::string_view name, std::string_view def, int64_t min, int64_t max,
                             std::string_view help) {
  OptionSpec spec = option(name, OptionType::Int, def, help);
  spec.min = min;
  spec.max = max;
  return spec;
}
constexpr OptionSpec bytes(std::string_view name, std::string_view def, std::string_view help) {
  return option(name, OptionType::ByteSize, def, help);
}
constexpr OptionSpec duration(std::string_view name, std::string_view def, std::string_view help) {
  return option(name, OptionType::Duration, def, help);
}
constexpr OptionSpec choice(std::string_view name, std::string_view def, std::string_view choices,
                            std::string_view help) {
  OptionSpec spec = option(name, OptionType::Enum, def, help);
  spec.choices = choices;
  return spec;
}
constexpr OptionSpec list(std::string_view name, std::string_view def, std::string_view help,
                          std::optional<std::string> (*check)(std::string_view) = nullptr) {
  OptionSpec spec = option(name, OptionType::List, def, help);
  spec.check = check;
  return spec;
}

std::optional<std::string> check_networks(std::string_view value) {
  for (const std::string& item : split_list(value)) {
    if (auto problem = check_cidr(item)) return problem;
  }
  return std::nullopt;
}

// clang-format off
constexpr OptionSpec kOptions[] = {
  // Where things are.
  text("configdirectory", "/var/lib/cubby",
       "Directory of Cubby's own state: the index (cubby.sqlite), sockets and lock files."),
  text("defaultpartition", "default",
       "Partition new mailboxes are created on; a partition-<name> entry gives its directory."),
  choice("partitionformat", "cyrus", "cyrus|maildir",
         "Format of a partition without a partition-<name>-format line: cyrus (Cyrus's layout) or "
         "maildir (Maildir++, read by Dovecot)."),
  boolean("hashimapspool", "no",
          "Spread mailbox directories over hashed subdirectories of each partition, as Cyrus does."),
  boolean("fulldirhash", "no",
          "With hashimapspool, hash the whole user name instead of taking its first letter."),
  text("lmtpsocket", "",
       "UNIX socket deliver(8) connects to; empty means {configdirectory}/socket/lmtp."),

  // Names and namespaces.
  text("servername", "",
       "Host name in the LMTP greeting and Received: headers; empty means gethostname()."),
  choice("serverinfo", "on", "on|min|off",
         "What the greeting tells about the software: on (name and version), min (name), off (none)."),
  boolean("unixhierarchysep", "yes",
          "Use '/' as the mailbox hierarchy separator so user names may hold dots; no means '.'."),
  choice("virtdomains", "off", "off|userid|on",
         "Virtual domains: off (one namespace), userid or on (mailboxes are per user@domain)."),
  text("defaultdomain", "",
       "With virtdomains, the domain whose users are stored without a domain part."),
  text("postuser", "",
       "User part that addresses shared folders: <postuser>+<folder> delivers to <folder>; empty: off."),
  text("postmaster", "postmaster",
       "User name used as the sender of notices Cubby generates."),
  text("defaultacl", "anyone lrs",
       "ACL of a new shared mailbox: identifier and rights pairs; a user's mailbox gets its owner."),

  // LMTP delivery rules.
  boolean("lmtp_downcase_rcpt", "yes",
          "Lower-case the user part of each recipient before looking up its mailbox."),
  boolean("lmtp_fuzzy_mailbox_match", "no",
          "When a +detail folder or shared mailbox does not exist, match ignoring case and ' -_'."),
  text("lmtp_catchall_mailbox", "",
       "User whose INBOX receives mail for recipients that do not exist; empty rejects them."),
  boolean("lmtp_over_quota_perm_failure", "no",
          "Refuse over-quota recipients with a permanent 552 instead of a temporary 452."),
  boolean("lmtp_strict_quota", "no",
          "Refuse a message that would take a mailbox over quota, not only one already over it."),
  boolean("lmtp_strict_rfc2821", "yes",
          "Refuse 8-bit characters in envelope addresses; no replaces them with 'X' as Cyrus does."),
  boolean("duplicatesuppression", "yes",
          "Deliver a message (by Message-ID) at most once to each mailbox."),
  // Sieve (docs/sieve.md).
  text("sievedir", "",
       "Directory of the users' Sieve scripts, laid out as Cyrus's; empty means "
       "{configdirectory}/sieve."),
  integer("sieve_maxscriptsize", "32", 1, kIntMax,
          "Largest Sieve script in KiB (as Cyrus) accepted by put and compiled at delivery."),
  integer("sieve_maxscripts", "5", 1, kIntMax, "Most Sieve scripts a user may keep."),
  text("sendmail", "/usr/sbin/sendmail",
       "Program Sieve redirect and vacation send mail through (-i -f <from> -- <to>)."),
  integer("sieve_sendmail_max_children", "4", 1, 1000,
          "Most sendmail children one lmtpd worker runs at once; more messages wait their turn."),
  duration("sieve_sendmail_timeout", "60s",
           "Time a sendmail child may run before it is killed (the send is then logged as failed); 0: no limit."),
  boolean("singleinstancestore", "yes",
          "Store a message once per partition, hard-linked into every recipient's mailbox."),
  boolean("reject8bit", "no", "Refuse messages with 8-bit bytes in their headers."),
  boolean("munge8bit", "no",
          "Replace 8-bit header bytes with 'X' (Cyrus's default); no stores them as sent."),
  boolean("autocreate_post", "no",
          "Create a user's INBOX on first delivery instead of refusing the recipient."),
  integer("autocreate_quota", "-1", -1, kIntMax,
          "With autocreate_post, create missing INBOXes when >= 0, with this STORAGE quota in KiB "
          "(0: unlimited)."),
  integer("autocreate_quota_messages", "0", -1, kIntMax,
          "MESSAGE quota given to INBOXes made by autocreate_post; 0 or -1 means unlimited."),
  integer("quotawarn", "90", 0, 100,
          "Percentage of a quota root's limit at which a delivery logs that it is nearly full."),

  // Limits.
  bytes("maxmessagesize", "0",
        "Largest message accepted, advertised as SIZE in the LHLO reply; 0 means unlimited."),
  bytes("lmtp_max_header_size", "1M", "Largest header section a message may have."),
  integer("lmtp_max_command_length", "4096", 512, 1 << 20,
          "Longest LMTP command line in bytes, its line end included; a longer one is refused whole."),
  integer("lmtp_max_recipients", "1000", 1, kIntMax,
          "Most recipients in one transaction; more get 452 and are retried by the client."),
  duration("lmtp_idle_timeout", "360s",
           "Close an LMTP connection that sends nothing for this long (Cyrus: 360 s)."),
  duration("lmtp_request_deadline", "300s",
           "Time a peer has to send one whole command line, or a message's content (plus "
           "lmtp_min_data_rate's allowance); missed: 421 4.4.2. 0 means no deadline."),
  integer("lmtp_min_data_rate", "500", 1, kIntMax,
          "Message bytes per second a peer must keep up: each byte received extends the "
          "lmtp_request_deadline of its message by 1/rate s."),
  integer("lmtp_max_connections", "200", 1, kIntMax,
          "Connections one lmtpd worker serves at once; more wait in the listen backlog."),
  integer("lmtp_user_concurrency_limit", "0", 0, kIntMax,
          "Most deliveries in progress at once to one user; 0 means no limit."),
  list("lmtp_allow_networks", "",
       "Networks (CIDR, like 192.0.2.0/24) allowed to connect over TCP; empty allows any.",
       check_networks),

  // The store.
  duration("store_checkpoint_interval", "1s",
           "How long deliveries must pause before mailbox directories are fsynced and delivered "
           "stage files removed; under steady traffic at most five intervals."),
  integer("store_commit_batch", "256", 1, kIntMax,
          "Most transactions committed together in one index transaction (group commit)."),
  integer("store_stage_reserve", "16", 0, 1024,
          "Stage files a worker names ahead per partition, with one directory fsync for them all, "
          "so that a delivery needs no directory fsync of its own; 0 makes each one when its "
          "message comes. Each is an open file (fewer than 1.5 times this many per partition)."),

  // The mailbox directory (docs/scale-out.md).
  choice("directory_backend", "local", "local|postgresql",
         "Where lmtpd -P (the LMTP front end) looks up each user's back end: local (no directory; "
         "a single machine) or postgresql (directory_conninfo)."),
  text("directory_conninfo", "",
       "libpq connection string of the mailbox directory, e.g. 'host=db1,db2 dbname=cubby "
       "target_session_attrs=any'."),
  duration("directory_cache_seconds", "30s",
           "How long the front end answers a known user from its cache without asking the "
           "directory; 0 asks every time."),
  duration("directory_stale_seconds", "10m",
           "How long past directory_cache_seconds a cached answer is still used while the "
           "directory is unreachable."),
  duration("directory_lookup_wait", "300ms",
           "Longest an RCPT waits for a directory lookup the cache cannot answer; past it the "
           "recipient is deferred (451 4.4.3) and the answer, when it comes, is cached."),
  text("directory_admin_command", "ssh %h cubbyctl",
       "How cubbyctl mailbox on an admin host runs cubbyctl on a back end: a /bin/sh command, "
       "%h the back end's host, %b its address as the directory holds it, %% a percent sign."),
  integer("proxy_cached_connections", "4", 0, 1000,
          "Idle LMTP connections a front end worker keeps open to each back end for the next "
          "messages; 0 closes each after its transaction."),
  duration("proxy_connection_idle_timeout", "60s",
           "How long a front end keeps an idle connection to a back end; keep it below the back "
           "ends' lmtp_idle_timeout."),
  text("proxy_authname", "",
       "SASL name a front end logs in to its back ends with (one of their admins); empty: no "
       "AUTH (the back ends trust the front end's address or socket)."),
  text("proxy_password", "", "Password for proxy_authname."),
  boolean("proxy_tls", "no",
          "A front end says STARTTLS to its back ends and checks their certificates; a back end "
          "that does not offer it gets no mail (451 4.4.3), never plain text."),
  text("proxy_tls_client_cert", "",
       "PEM file with the certificate a front end presents to its back ends (its CN one of their "
       "LMTP admins): its login when the back ends set tls_client_ca_file."),
  text("proxy_tls_client_key", "", "PEM file with the private key of proxy_tls_client_cert."),
  text("proxy_tls_ca_file", "",
       "PEM file of CA certificates that back ends' certificates are checked against; empty "
       "uses the system's."),

  // Processes.
  duration("master_shutdown_timeout", "300s",
           "On SIGTERM, how long the master lets workers finish before killing them."),
  text("cubby_user", "cubby",
       "Unprivileged user the programs run as when started as root; root stays root with a warning "
       "when the default user does not exist."),
  text("cubby_group", "", "Group to run as with cubby_user; empty means cubby_user's primary group."),
  boolean("master_chown", "yes",
          "cubby-master, started as root, gives configdirectory and the partitions to cubby_user."),
  text("metrics_listen", "",
       "Loopback host:port where cubby-master serves Prometheus metrics (/metrics); empty: off."),
  text("metrics_textfile", "",
       "File cubby-master rewrites with Prometheus metrics, for node_exporter; empty: off."),
  duration("metrics_interval", "15s", "How often cubby-master rewrites metrics_textfile."),
  boolean("debug", "no", "Log at debug level."),
  boolean("chatty", "no", "Log every LMTP command and reply."),

  // Authentication.
  list("admins", "",
       "Users who may authenticate to LMTP over TCP and deliver; separated by blanks or commas."),
  boolean("allowplaintext", "no", "Offer PLAIN and LOGIN authentication without TLS."),
  boolean("soft_noauth", "yes",
          "Refuse unauthenticated MAIL with a temporary 430 rather than a permanent 530."),
  text("sasl_pwcheck_method", "auxprop",
       "How libsasl2 checks passwords (auxprop, saslauthd, ...)."),
  text("sasl_mech_list", "",
       "SASL mechanisms to offer, separated by blanks; empty offers every one libsasl2 has."),
  integer("sasl_minimum_layer", "0", 0, kIntMax,
          "Least security strength (SSF) a SASL session must have; 0 allows none."),
  integer("sasl_maximum_layer", "256", 0, kIntMax,
          "Accepted for Cyrus compatibility: Cubby negotiates no SASL security layer (use TLS)."),
  integer("lmtp_max_auth_failures", "5", 1, 1000,
          "Failed AUTH attempts on one connection before it is closed with 421."),
  duration("lmtp_auth_failure_delay", "1s",
           "Wait before answering a failed AUTH; doubled at each further failure, at most 30 s. "
           "Once a client address has failed, its AUTH attempts (on any connection) are checked "
           "at most this often, the spacing doubled at each further failure, at most 30 s."),
  duration("lmtp_auth_penalty_timeout", "1h",
           "Forget the AUTH failures of a client address after this long without a new one (a "
           "successful login from it forgets them at once); 0 turns the penalty per address off."),

  // TLS.
  text("tls_server_cert", "",
       "PEM file with the server certificate; STARTTLS is offered when it and the key are set."),
  text("tls_server_key", "", "PEM file with the private key of tls_server_cert."),
  text("tls_server_ca_file", "", "PEM file of CA certificates that complete the server's chain."),
  text("tls_client_ca_file", "", "PEM file of CA certificates that client certificates are checked against."),
  text("tls_ciphers", "", "OpenSSL cipher list for TLS 1.2; empty uses OpenSSL's default."),
  text("tls_versions", "tls1_2 tls1_3",
       "TLS versions allowed, separated by blanks: tls1_0, tls1_1, tls1_2, tls1_3."),
};
// clang-format on

std::string quote(std::string_view value) { return "\"" + std::string(value) + "\""; }

}  // namespace

std::string_view type_name(OptionType type) {
  switch (type) {
    case OptionType::String:
      return "string";
    case OptionType::Bool:
      return "bool";
    case OptionType::Int:
      return "int";
    case OptionType::ByteSize:
      return "bytesize";
    case OptionType::Duration:
      return "duration";
    case OptionType::Enum:
      return "enum";
    case OptionType::List:
      return "list";
  }
  return "?";
}

std::span<const OptionSpec> option_table() { return kOptions; }

const OptionSpec* find_option(std::string_view name) {
  for (const OptionSpec& spec : kOptions) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::vector<std::string_view> enum_values(const OptionSpec& spec) {
  std::vector<std::string_view> values;
  std::string_view rest = spec.choices;
  while (!rest.empty()) {
    size_t bar = rest.find('|');
    values.push_back(rest.substr(0, bar));
    rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
  }
  return values;
}

std::optional<std::string_view> enum_value(const OptionSpec& spec, std::string_view value) {
  std::string wanted = lower(trim(value));
  for (std::string_view allowed : enum_values(spec)) {
    if (allowed == wanted) return allowed;
  }
  return std::nullopt;
}

std::optional<std::string> check_value(const OptionSpec& spec, std::string_view value) {
  switch (spec.type) {
    case OptionType::String:
    case OptionType::List:
      break;
    case OptionType::Bool:
      if (!parse_bool(value))
        return quote(value) + " is not a yes/no value (yes, no, on, off, 1, 0)";
      break;
    case OptionType::Int: {
      auto number = parse_int(value);
      if (!number) return quote(value) + " is not a whole number";
      if (*number < spec.min || *number > spec.max) {
        return quote(value) + " is out of range (" + std::to_string(spec.min) + " to " +
               std::to_string(spec.max) + ")";
      }
      break;
    }
    case OptionType::ByteSize:
      if (!parse_bytesize(value)) {
        return quote(value) + " is not a byte size (a number with an optional K, M or G suffix)";
      }
      break;
    case OptionType::Duration:
      if (!parse_duration(value)) {
        return quote(value) +
               " is not a duration (a number with an optional ms, s, m, h or d unit)";
      }
      break;
    case OptionType::Enum:
      if (!enum_value(spec, value)) {
        std::string allowed;
        for (std::string_view v : enum_values(spec))
          allowed += (allowed.empty() ? "" : ", ") + std::string(v);
        return quote(value) + " is not one of: " + allowed;
      }
      break;
  }
  if (spec.check) return spec.check(value);
  return std::nullopt;
}

Family family_of(std::string_view key) {
  constexpr std::string_view kFormat = "-format";
  if (key.starts_with("partition-") && key.ends_with(kFormat) && key.size() > 10 + kFormat.size()) {
    return Family::PartitionFormat;
  }
  if (key.starts_with("partition-") && key.size() > 10) return Family::Partition;
  if (key.starts_with("sasl_") && key.size() > 5) return Family::Sasl;
  return Family::None;
}

std::optional<std::string> check_family_value(std::string_view key, std::string_view value) {
  if (family_of(key) == Family::Partition && !value.starts_with("/")) {
    return quote(value) + " is not an absolute directory path";
  }
  if (family_of(key) == Family::PartitionFormat) {
    return check_value(*find_option("partitionformat"), value);
  }
  return std::nullopt;
}

}  // namespace cubby::conf
