# starts_with_any(<out> <text> <prefix>...): sets <out> to TRUE when <text> begins with any of the
# prefixes, FALSE otherwise. Shared by the include check and its test.
function(starts_with_any out text)
  foreach(prefix ${ARGN})
    string(FIND "${text}" "${prefix}" at)
    if(at EQUAL 0)
      set(${out} TRUE PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} FALSE PARENT_SCOPE)
endfunction()
