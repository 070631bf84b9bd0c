# Install rules (docs/install.md): where `cmake --install` puts an installed Cubby. With the
# default prefix /usr (Debian's layout, as the package uses):
#   /usr/lib/cubby/{cubby-master,lmtpd,deliver}  the programs, beside each other as Cyrus's in
#                                                /usr/lib/cyrus/bin: cmd="lmtpd" is looked up in
#                                                the master's own directory
#   /usr/sbin/cubby-master                       a symbolic link to /usr/lib/cubby/cubby-master
#                                                (the master resolves its real directory)
#   /usr/sbin/cubbyctl                           administration
#   /usr/share/man/man{5,8}/                     the man pages of docs/man
#   /usr/share/doc/cubby/                        README.md and docs/*.md
#   /usr/share/doc/cubby/examples/               dist/imapd.conf, dist/cyrus.conf, dist/cubby.service
#                                                and docs/examples
# CUBBY_PROGRAM_DIR moves the programs (relative to the prefix).
set(CUBBY_PROGRAM_DIR "lib/cubby" CACHE STRING "Where the programs cubby-master runs are installed")
set(CUBBY_SBIN_DIR "sbin" CACHE STRING "Where cubbyctl and the cubby-master link are installed")
set(CUBBY_DOC_DIR "share/doc/cubby" CACHE STRING "Where the documentation is installed")

install(TARGETS cubby-master lmtpd deliver RUNTIME DESTINATION ${CUBBY_PROGRAM_DIR})
install(TARGETS cubbyctl RUNTIME DESTINATION ${CUBBY_SBIN_DIR})
file(RELATIVE_PATH CUBBY_MASTER_LINK "/prefix/${CUBBY_SBIN_DIR}"
     "/prefix/${CUBBY_PROGRAM_DIR}/cubby-master")
install(CODE "
  set(link \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CUBBY_SBIN_DIR}/cubby-master\")
  file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CUBBY_SBIN_DIR}\")
  file(REMOVE \"\${link}\")
  file(CREATE_LINK \"${CUBBY_MASTER_LINK}\" \"\${link}\" SYMBOLIC)
  message(STATUS \"Installing: \${link} -> ${CUBBY_MASTER_LINK}\")
")

file(GLOB CUBBY_MAN5 ${CMAKE_SOURCE_DIR}/docs/man/*.5)
file(GLOB CUBBY_MAN8 ${CMAKE_SOURCE_DIR}/docs/man/*.8)
install(FILES ${CUBBY_MAN5} DESTINATION share/man/man5)
install(FILES ${CUBBY_MAN8} DESTINATION share/man/man8)

file(GLOB CUBBY_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CUBBY_DOCS} DESTINATION ${CUBBY_DOC_DIR})
install(FILES ${CMAKE_SOURCE_DIR}/dist/imapd.conf ${CMAKE_SOURCE_DIR}/dist/cyrus.conf
              ${CMAKE_SOURCE_DIR}/dist/cubby.service
        DESTINATION ${CUBBY_DOC_DIR}/examples)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/examples/ DESTINATION ${CUBBY_DOC_DIR}/examples)
