# Shared compile settings for asdm targets.
function(asdm_target_defaults target)
  target_include_directories(${target} PUBLIC ${CMAKE_SOURCE_DIR})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  # GCC 12 flags nlohmann-json's set_parents() (JSON_DIAGNOSTICS, set in CMakeLists.txt) wherever
  # a json is built from a string: "array subscript ... partly outside array bounds", 200+ times a
  # build, in the object branch that a string value never takes. A known false positive of that
  # compiler; clang keeps the warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
    target_compile_options(${target} PRIVATE -Wno-array-bounds)
  endif()
endfunction()

# A torch-using target: links libtorch and shares one precompiled <torch/torch.h> header (built
# once, by asdm_model) so that each translation unit does not re-parse libtorch's headers.
function(asdm_use_torch target)
  target_link_libraries(${target} PUBLIC ${ASDM_TORCH_LIBS})
  target_include_directories(${target} SYSTEM PUBLIC ${TORCH_INCLUDE_DIRS})
  # The torch wheel ships its own (newer) fmt headers, which shadow Debian's on this include path;
  # use them header-only so that nothing links against a libfmt of another version.
  target_compile_definitions(${target} PUBLIC FMT_HEADER_ONLY=1)
  if(NOT target STREQUAL "asdm_model")
    target_precompile_headers(${target} REUSE_FROM asdm_model)
  endif()
  asdm_skip_pch_without_torch(${target})
endfunction()

# The precompiled header costs a translation unit that never uses libtorch about 9 s on this
# project's 2-core machine (apps/asdm/report.cpp: 19.3 s with it, 10.0 s without), and half of the
# torch-using targets' files include no libtorch header (headers here stay light: STYLE.md). So a
# .cpp that includes nothing from torch/, ATen/ or c10/ is compiled without it. Decided when CMake
# configures; a file that gains such an include before the next configure still compiles, only
# without the header's speed-up.
function(asdm_skip_pch_without_torch target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(dir ${target} SOURCE_DIR)
  foreach(src IN LISTS sources)
    if(NOT src MATCHES "\\.cpp$")
      continue()
    endif()
    if(IS_ABSOLUTE "${src}")
      set(path "${src}")
    else()
      set(path "${dir}/${src}")
    endif()
    file(STRINGS "${path}" torch_includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](torch|ATen|c10)/")
    if(NOT torch_includes)
      set_source_files_properties("${src}" PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()
