# What a folder may include, checked on every build (cmake -P; see cmake/layout.cmake).
#
#   cmake -DROOT=<source tree> -DFOLDER=<folder, relative to ROOT> [-DRECURSE=ON]
#         -DALLOW=<a,b,...> [-DFORBID=<x,y,...>] [-DSTAMP=<file>] -P cmake/check_includes.cmake
#
# Reads every *.h and *.cc of FOLDER (and of its subfolders with RECURSE) and looks at each
# #include line:
#   - "a/b.h" (the project's own headers, named from the source root) must start with one of the
#     ALLOW prefixes ("conf/", "server/lmtp/"); "b.h" without a folder is the file's own folder;
#   - <a/b.h> (system and third-party headers) must not start with any FORBID prefix ("boost/asio").
# Every offence is printed as `file:line: FOLDER/ may not include x`, then the script fails, so the
# build stops before anything is compiled. With no offence it touches STAMP.
cmake_minimum_required(VERSION 3.20)
foreach(var ROOT FOLDER ALLOW)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_includes.cmake: -D${var}= is missing")
  endif()
endforeach()
include(${CMAKE_CURRENT_LIST_DIR}/starts_with_any.cmake)
string(REPLACE "," ";" allow "${ALLOW}")
string(REPLACE "," ";" forbid "${FORBID}")

if(RECURSE)
  file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE ${ROOT} ${ROOT}/${FOLDER}/*.h
       ${ROOT}/${FOLDER}/*.cc)
else()
  file(GLOB files LIST_DIRECTORIES false RELATIVE ${ROOT} ${ROOT}/${FOLDER}/*.h ${ROOT}/${FOLDER}/*.cc)
endif()
list(SORT files)

set(offences 0)
foreach(file ${files})
  file(STRINGS ${ROOT}/${file} lines)
  set(n 0)
  foreach(line IN LISTS lines)
    math(EXPR n "${n} + 1")
    if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*([<\"])([^>\"]+)[>\"]")
      continue()
    endif()
    set(quote "${CMAKE_MATCH_1}")
    set(header "${CMAKE_MATCH_2}")
    set(ok TRUE)
    if(quote STREQUAL "\"")
      if(header MATCHES "/")
        starts_with_any(ok "${header}" ${allow})
      endif()
    else()
      starts_with_any(forbidden "${header}" ${forbid})
      if(forbidden)
        set(ok FALSE)
      endif()
    endif()
    if(NOT ok)
      message("${file}:${n}: ${FOLDER}/ may not include ${header}")
      math(EXPR offences "${offences} + 1")
    endif()
  endforeach()
endforeach()

if(offences GREATER 0)
  message(FATAL_ERROR "${FOLDER}/ breaks the layout rules (${offences} include(s) above); "
                      "its CMakeLists.txt says what it may include, docs/architecture.md why")
endif()
if(DEFINED STAMP)
  file(TOUCH ${STAMP})
endif()
