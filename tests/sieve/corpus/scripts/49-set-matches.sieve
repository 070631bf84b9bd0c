require ["variables", "fileinto"];
if header :matches "subject" "*" { set :lower :quotewildcard "s" "${0}"; }
if string :matches "${s}" "*\\?" { fileinto "ends-with-question"; }
set :length "len" "${s}";
fileinto "len/${len}";
