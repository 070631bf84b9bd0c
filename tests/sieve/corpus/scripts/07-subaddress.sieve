require ["envelope", "subaddress", "fileinto", "variables"];
if envelope :detail :matches "to" "*" { fileinto "detail/${1}"; }
if envelope :user :is "to" "user" { fileinto "user"; }
if address :detail :is "to" "work" { fileinto "header-detail"; }
