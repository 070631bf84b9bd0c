require ["body", "fileinto"];
if body :contains "diploma" { fileinto "body-spam"; }
if body :text :contains "café" { fileinto "body-qp"; }
if body :raw :contains "Y29uZmlkZW50aWFs" { fileinto "body-raw"; }
if body :content "application" :contains "confidential" { fileinto "body-content"; }
