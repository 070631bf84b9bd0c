# cubby_layout_rules(<target> [RECURSE] ALLOW <prefix>... [FORBID <prefix>...])
#
# Makes <target> (the library of the calling folder) depend on a check of the folder's #include
# lines: a quoted include of the project must start with an ALLOW prefix ("conf/", "store/"), an
# angle-bracket include must not start with a FORBID prefix ("boost/asio"). The check
# (cmake/check_includes.cmake) runs before the target compiles and again whenever a file of the
# folder changes; an offence fails the build with `file:line: <folder>/ may not include <header>`.
# tests/layout proves, per rule, that a planted wrong include is caught.
function(cubby_layout_rules target)
  cmake_parse_arguments(arg "RECURSE" "" "ALLOW;FORBID" ${ARGN})
  file(RELATIVE_PATH folder ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  if(arg_RECURSE)
    file(GLOB_RECURSE files CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.h
         ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
    set(recurse ON)
  else()
    file(GLOB files CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.h
         ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
    set(recurse OFF)
  endif()
  string(REPLACE ";" "," allow "${arg_ALLOW}")
  string(REPLACE ";" "," forbid "${arg_FORBID}")
  set(stamp ${CMAKE_CURRENT_BINARY_DIR}/${target}.includes-checked)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -DROOT=${CMAKE_SOURCE_DIR} -DFOLDER=${folder} -DRECURSE=${recurse}
            -DALLOW=${allow} -DFORBID=${forbid} -DSTAMP=${stamp}
            -P ${CMAKE_SOURCE_DIR}/cmake/check_includes.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/check_includes.cmake
            ${CMAKE_SOURCE_DIR}/cmake/starts_with_any.cmake
    COMMENT "Checking what ${folder}/ includes"
    VERBATIM)
  add_custom_target(${target}_layout DEPENDS ${stamp})
  add_dependencies(${target} ${target}_layout)
  # tests/layout turns each rule into a test that plants a wrong include in a copy of the folder.
  set_property(GLOBAL APPEND PROPERTY CUBBY_LAYOUT_RULES
               "${target}|${folder}|${recurse}|${allow}|${forbid}")
endfunction()
