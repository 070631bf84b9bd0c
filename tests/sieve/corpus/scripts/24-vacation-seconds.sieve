require ["vacation", "vacation-seconds"];
if not header :contains "subject" "money" { vacation :seconds 3600 :addresses ["user@example.com"] "Back soon."; }
