require ["variables", "fileinto"];
if header :matches "List-Id" "*<*.lists.example.org>" { set :lower "list" "${2}"; fileinto "lists/${list}"; stop; }
if header :matches "subject" "* *" { set :upperfirst "w" "${1}"; fileinto "first/${w}"; }
