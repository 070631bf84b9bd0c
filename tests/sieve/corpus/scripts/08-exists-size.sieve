require "fileinto";
if exists "List-Id" { fileinto "has-list-id"; }
if exists ["From", "X-Nope"] { fileinto "never"; }
if size :over 600 { fileinto "big"; }
if size :under 400 { fileinto "small"; }
