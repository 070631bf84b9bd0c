require ["date", "fileinto", "relational", "variables"];
if date :value "ge" :originalzone "date" "date" "2023-11-13" { fileinto "recent"; }
if date :is "date" "year" "2003" { fileinto "old"; }
if date :matches :zone "+0000" "date" "hour" "*" { fileinto "hour/${1}"; }
if date :is :originalzone "date" "weekday" "1" { fileinto "monday"; }
if currentdate :value "ge" "year" "2020" { fileinto "now"; }
