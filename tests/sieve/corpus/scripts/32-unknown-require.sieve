require "x-cubby-nonsense";
keep;
