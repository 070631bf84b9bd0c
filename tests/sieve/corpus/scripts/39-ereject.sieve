require "ereject";
if header :is "auto-submitted" "auto-replied" { ereject "no bounces please"; }
