require ["fileinto", "copy"];
fileinto :copy "Archive";
if header :contains "from" "boss" { redirect :copy "assistant@example.com"; }
