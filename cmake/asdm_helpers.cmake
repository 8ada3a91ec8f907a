# Shared compile settings for asdm targets.
function(asdm_target_defaults target)
  target_include_directories(${target} PUBLIC ${CMAKE_SOURCE_DIR})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
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
endfunction()
