require ["regex", "fileinto", "variables"];
if header :regex "subject" "^\\[([a-z-]+)\\]" { fileinto "regex/${1}"; }
if address :regex :localpart "from" "^(boss|joe)$" { fileinto "known/${1}"; }
