require ["envelope", "fileinto"];
if envelope :is "from" "joe@example.org" { fileinto "env-from"; }
if envelope :domain :is "to" "example.com" { fileinto "env-to"; }
if envelope :localpart :contains "to" "lists" { fileinto "env-local"; }
