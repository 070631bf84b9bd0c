require ["include", "variables", "fileinto"];
global "folder";
set "folder" "start";
include :global "setfolder";
fileinto "${folder}";
