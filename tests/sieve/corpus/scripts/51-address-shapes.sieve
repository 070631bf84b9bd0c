require ["fileinto", "variables", "relational", "comparator-i;ascii-numeric"];
if address :count "eq" :comparator "i;ascii-numeric" "to" "2" { fileinto "two-valid"; }
if address :localpart :is "to" "a b" { fileinto "quoted-local"; }
if address :matches "cc" "*" { fileinto "cc/${1}"; }
if address :domain :is "reply-to" "example.net" { fileinto "group-member"; }
if address :is "from" "joe@example.org" { fileinto "comment-stripped"; }
if header :contains "subject" "café report" { fileinto "qp-words"; }
