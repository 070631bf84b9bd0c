require ["index", "fileinto", "date"];
if header :index 1 :contains "received" "a.example by b" { fileinto "first-hop"; }
if header :index 1 :last :contains "received" "c.example" { fileinto "last-hop"; }
if header :index 3 :contains "received" "" { fileinto "never"; }
