require ["imap4flags", "fileinto"];
if header :contains "subject" "report" { addflag "\\Flagged"; fileinto "Work"; }
setflag "\\Seen";
addflag ["$Label1", "\\Answered"];
removeflag "\\answered";
