require ["fileinto", "copy", "imap4flags"];
if header :contains "subject" "lunch" { fileinto :copy "INBOX"; keep; }
if header :contains "subject" "report" { fileinto :flags "\\Flagged" "INBOX"; keep :flags "\\Seen"; }
if exists "list-id" { fileinto :copy "Lists"; fileinto :copy "Lists"; }
