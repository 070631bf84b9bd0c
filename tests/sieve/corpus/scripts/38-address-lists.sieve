require ["fileinto", "variables"];
if address :matches :localpart "cc" "*" { fileinto "cc/${1}"; }
if address :is :domain ["to", "cc"] "example.net" { fileinto "net"; }
if address :contains "from" "Boss" { fileinto "display-name"; }
