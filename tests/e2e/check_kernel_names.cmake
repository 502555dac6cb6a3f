# tests/e2e/check_kernel_names.cmake — build-time check that a sim plugin implements exactly the
# kernels of its CUDA program, under the exact mangled names.
#
# cmake -DPTX=<nvcc -ptx output> -DPLUGIN=<plugin .cc> -DSTAMP=<file to write on success> -P ...
# Collects the `.entry <name>(` names from the PTX and the `{"<name>", fn}` table entries from the
# plugin source (sim_plugin_util.h's contract) and fails the build when the two sets differ.
foreach(var PTX PLUGIN STAMP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_kernel_names: -D${var}= is required")
  endif()
endforeach()

file(STRINGS ${PTX} _entry_lines REGEX "\\.entry[ \t]+[A-Za-z0-9_$]+")
set(_ptx_names)
foreach(line ${_entry_lines})
  string(REGEX MATCH "\\.entry[ \t]+([A-Za-z0-9_$]+)" _m "${line}")
  list(APPEND _ptx_names ${CMAKE_MATCH_1})
endforeach()

file(READ ${PLUGIN} _src)
string(REGEX MATCHALL "{\"[A-Za-z0-9_$]+\"," _entries "${_src}")
set(_plugin_names)
foreach(e ${_entries})
  string(REGEX MATCH "\"([A-Za-z0-9_$]+)\"" _m "${e}")
  list(APPEND _plugin_names ${CMAKE_MATCH_1})
endforeach()

list(SORT _ptx_names)
list(SORT _plugin_names)
if(NOT _ptx_names)
  message(FATAL_ERROR "check_kernel_names: no .entry found in ${PTX}")
endif()
if(NOT _ptx_names STREQUAL _plugin_names)
  message(FATAL_ERROR "check_kernel_names: kernels differ between the CUDA program and its sim "
                      "plugin\n  PTX ${PTX}: ${_ptx_names}\n  plugin ${PLUGIN}: ${_plugin_names}")
endif()
file(WRITE ${STAMP} "${_ptx_names}\n")
