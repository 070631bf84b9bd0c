require ["encoded-character", "fileinto"];
if header :contains "subject" "${hex:4d 4f 4e 45 59}" { fileinto "encoded-hit"; }
fileinto "${unicode:48}i";
