require "fileinto";
if header :contains "X-Nope" "" { fileinto "missing-header"; }
if header :contains "Subject" "" { fileinto "any-subject"; }
if header :is "X-Priority" "" { fileinto "empty-priority"; }
if address :is "to" "" { fileinto "empty-address"; }
