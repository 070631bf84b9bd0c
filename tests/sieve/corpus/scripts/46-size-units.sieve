require "fileinto";
if size :over 1K { fileinto "over-1k"; }
if size :under 1M { fileinto "under-1m"; }
if size :over 100 { fileinto "over-100"; }
