require "fileinto";
if address :localpart :is "from" "joe" { fileinto "joe"; }
if address :domain :is "from" "EXAMPLE.COM" { fileinto "company"; }
if address :all :is "cc" "jane@example.com" { fileinto "jane"; }
if address :all :contains "to" "lists.example.org" { fileinto "lists"; }
if address :is "cc" "friend@example.net" { fileinto "friend"; }
