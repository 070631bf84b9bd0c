require ["regex", "fileinto", "variables"];
if header :regex :comparator "i;octet" "subject" "^lunch" { fileinto "octet-lower"; }
if header :regex "subject" "^LUNCH" { fileinto "casemap-upper"; }
if header :regex "from" "<([^@]+)@" { fileinto "from/${1}"; }
