if address :domain :is "from" "example.net" { redirect "forward@example.com"; }
if header :contains "subject" "lunch" { redirect "lunch-team@example.com"; redirect "Lunch-Team@example.com"; }
