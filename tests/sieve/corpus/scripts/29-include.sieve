require ["include", "fileinto"];
include :personal "lists";
include :global "spam";
fileinto "after-include";
