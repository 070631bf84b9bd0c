require "fileinto";
if header :is "subject" "lunch on friday?" { fileinto "is"; }
if header :contains "subject" "REPORT" { fileinto "contains"; }
if header :matches "subject" "*vacation*" { fileinto "matches"; }
if header :matches "subject" "?uarterly*" { fileinto "question"; }
if header :is :comparator "i;octet" "subject" "lunch on friday?" { fileinto "octet"; }
