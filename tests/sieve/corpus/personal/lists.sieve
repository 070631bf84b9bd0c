require ["fileinto", "include"];
if exists "List-Id" { fileinto "Lists"; return; }
fileinto "NotList";
