require ["imap4flags", "fileinto", "variables"];
if header :contains "subject" "report" { addflag "\\Flagged"; }
if hasflag :contains "flagged" { fileinto "flagged"; }
addflag "myvar" "a b";
if hasflag "myvar" "b" { fileinto "var-b"; }
removeflag "\\Flagged";
