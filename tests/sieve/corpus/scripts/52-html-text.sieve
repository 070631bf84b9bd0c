require ["body", "fileinto"];
if body :text :contains "<b>" { fileinto "tag"; }
if body :text :contains "Hello big" { fileinto "text"; }
if body :text :contains "&small" { fileinto "amp"; }
if body :text :contains "color" { fileinto "style"; }
if body :text :contains "<world>" { fileinto "lt"; }
if body :raw :contains "<b>" { fileinto "raw"; }
if body :content "text/html" :contains "<b>" { fileinto "content"; }
