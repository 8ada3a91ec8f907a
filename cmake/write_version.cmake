# Writes core's version.cpp with the checkout's commit, at build time (core/CMakeLists.txt runs it
# before every build), so that artifacts and --version name the commit that was built, not the one
# CMake last configured at. configure_file leaves the file untouched when nothing changed, so an
# unchanged commit rebuilds nothing.
#   cmake -DSOURCE_DIR=... -DINPUT=version.cpp.in -DOUTPUT=version.cpp -DPROJECT_VERSION=... -P this
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE ASDM_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT ASDM_GIT_COMMIT)
  set(ASDM_GIT_COMMIT "unknown")
endif()
configure_file(${INPUT} ${OUTPUT} @ONLY)
