require ["mailbox", "fileinto"];
if mailboxexists "INBOX" { fileinto :create "Created/Sub"; }
