require "fileinto";
if header :contains "subject" "FAST €" { fileinto "decoded"; }
if header :contains "subject" "=?UTF-8?" { fileinto "raw"; }
