require ["duplicate", "fileinto"];
if duplicate { fileinto "dup"; }
if duplicate :header "subject" :handle "subj" { fileinto "dup-subject"; }
