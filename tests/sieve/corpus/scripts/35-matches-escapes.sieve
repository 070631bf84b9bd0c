require "fileinto";
if header :matches "subject" "*\\?" { fileinto "question-mark"; }
if header :matches "subject" "*(*)" { fileinto "parens"; }
if header :matches "subject" "\\*" { fileinto "never"; }
