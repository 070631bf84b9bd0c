require ["body", "fileinto"];
if body :content "text/plain" :contains "report" { fileinto "plain-report"; }
if body :content "text" :contains "noon" { fileinto "text-noon"; }
if body :text :matches "*fast*" { fileinto "text-fast"; }
