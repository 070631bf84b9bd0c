require ["ihave", "fileinto"];
if ihave "fileinto" { fileinto "have-fileinto"; }
if ihave "x-no-such-extension" { frobnicate; } else { fileinto "no-frob"; }
