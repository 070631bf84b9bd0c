require "fileinto";
if exists "from" {
  if header :contains "subject" ["lunch", "report"] {
    if not exists "cc" { fileinto "no-cc"; } elsif address :domain :is "from" "example.com" { fileinto "inner-company"; } else { fileinto "inner-else"; }
  } elsif anyof (header :contains "subject" "vacation", exists "auto-submitted") {
    fileinto "auto-or-vacation";
  }
}
