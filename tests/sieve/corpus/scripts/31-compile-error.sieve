require "fileinto";
fileinto "x"
keep;
