require ["date", "fileinto", "variables"];
if date :matches "date" "std11" "*" { fileinto "std11/${1}"; }
if date :matches :originalzone "date" "zone" "*" { fileinto "zone/${1}"; }
if date :matches "date" "julian" "*" { fileinto "julian/${1}"; }
if date :matches :zone "-0800" "date" "iso8601" "*" { fileinto "iso/${1}"; }
