require ["imap4flags"];
if header :contains "subject" "undelivered" { discard; stop; }
keep :flags ["\\Seen"];
setflag "\\Deleted";
