require ["reject", "fileinto"];
if header :contains "subject" "report" { fileinto "Work"; reject "conflict"; }
