require "fileinto";
if allof (exists "From", not exists "List-Id", header :contains "from" "example") { fileinto "allof"; }
if anyof (false, header :contains "subject" "undelivered") { fileinto "anyof"; }
if not anyof (true, false) { fileinto "never"; }
