require "fileinto";
if header :contains "subject" "money" { fileinto "Spam"; stop; }
