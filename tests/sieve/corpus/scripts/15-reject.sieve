require "reject";
if header :contains "subject" "money" { reject "No thanks."; }
