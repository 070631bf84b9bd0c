if header :contains "subject" "money" { discard; stop; }
keep;
