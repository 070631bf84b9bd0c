require ["envelope", "fileinto", "variables", "subaddress"];
if envelope :all :matches "to" "*@*" { fileinto "${2}/${1}"; }
if envelope :detail "to" "work" { fileinto "never"; }
