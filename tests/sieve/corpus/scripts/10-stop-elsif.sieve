require "fileinto";
if header :contains "subject" "lunch" { fileinto "food"; stop; }
elsif header :contains "subject" "report" { fileinto "work"; }
else { fileinto "other"; }
fileinto "after";
