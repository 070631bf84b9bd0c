require ["variables", "include"];
global "folder";
set "folder" "${folder}-global";
