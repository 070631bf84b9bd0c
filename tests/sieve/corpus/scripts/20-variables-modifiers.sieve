require ["variables", "fileinto"];
set "a" "Hello";
set :upper "b" "${a}";
set :length "n" "${a}${b}";
fileinto "x/${b}-${n}";
if string :is "${a}" "hello" { fileinto "string-is"; }
