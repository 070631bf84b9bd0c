require ["imap4flags", "fileinto"];
fileinto :flags ["\\Seen", "\\Flagged"] "Flagged";
keep :flags "$Kept";
