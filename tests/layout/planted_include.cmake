# One folder's layout rule, tested (cmake -P; arguments as for cmake/check_includes.cmake, plus
# WORK, a scratch directory):
#   1. the folder as checked in passes the check;
#   2. a copy with `#include "<project header it may not use>"` added to one header fails it, with
#      `<file>:<line>: <folder>/ may not include <header>`;
#   3. when the rule forbids third-party headers (boost/asio), a copy with one of those fails too.
cmake_minimum_required(VERSION 3.20)
set(checker ${CMAKE_CURRENT_LIST_DIR}/../../cmake/check_includes.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/starts_with_any.cmake)
string(REPLACE "," ";" allow_list "${ALLOW}")
string(REPLACE "," ";" forbid_list "${FORBID}")

function(run_check root out_rc out_text)
  execute_process(COMMAND ${CMAKE_COMMAND} -DROOT=${root} -DFOLDER=${FOLDER} -DRECURSE=${RECURSE}
                          -DALLOW=${ALLOW} -DFORBID=${FORBID} -P ${checker}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE text)
  set(${out_rc} ${rc} PARENT_SCOPE)
  set(${out_text} "${text}" PARENT_SCOPE)
endfunction()

# Copies the folder under WORK/<case>, adds `line` at the end of its first header, and expects the
# check to fail naming that file, the new line and `header`.
function(expect_caught case line header)
  set(root ${WORK}/${case})
  file(REMOVE_RECURSE ${root})
  get_filename_component(parent ${root}/${FOLDER} DIRECTORY)
  file(MAKE_DIRECTORY ${parent})
  file(COPY ${ROOT}/${FOLDER} DESTINATION ${parent})
  file(GLOB_RECURSE headers RELATIVE ${root} ${root}/${FOLDER}/*.h)
  list(SORT headers)
  list(GET headers 0 victim)
  file(STRINGS ${root}/${victim} lines)
  list(LENGTH lines n)
  math(EXPR n "${n} + 1")
  file(APPEND ${root}/${victim} "${line}\n")
  run_check(${root} rc text)
  set(want "${victim}:${n}: ${FOLDER}/ may not include ${header}")
  if(rc EQUAL 0)
    message(FATAL_ERROR "${case}: the check passed ${victim} with `${line}` added")
  endif()
  string(FIND "${text}" "${want}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${case}: the check failed but did not say `${want}`:\n${text}")
  endif()
  message(STATUS "${case}: caught, `${want}`")
endfunction()

run_check(${ROOT} rc text)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FOLDER}/ as checked in breaks its rule:\n${text}")
endif()

# The first of these that the rule does not allow is planted (store/ in a master file, and so on).
foreach(candidate store/store.h server/master/master.h server/lmtpd/session.h conf/settings.h)
  starts_with_any(allowed "${candidate}" ${allow_list})
  if(NOT allowed)
    expect_caught(project "#include \"${candidate}\"" ${candidate})
    break()
  endif()
endforeach()

foreach(prefix ${forbid_list})
  expect_caught(third_party "#include <${prefix}/planted.hpp>" ${prefix}/planted.hpp)
endforeach()
