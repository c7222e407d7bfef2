# modelc_add_model: compile a model at build time and link it like any
# library (README.md, "Using modelc from CMake"). Included by
# modelcConfig.cmake, which sets MODELC_EXECUTABLE, MODELC_INCLUDE_DIRS and
# MODELC_RUNTIME_DIR.
#
#   modelc_add_model(<name> SOURCE model.mdl
#                    [TARGET cpu|cuda] [CPU name] [MTRIPLE triple]
#                    [PREFIX symbol-prefix] [MODEL name-in-file]
#                    [WEIGHTS state.safetensors] [STATIC]
#                    [OPTIONS more modelc options...])
#
# makes the imported library target <name>:
#   - shared (the default): lib<name>.so, whose soname is its file name, so
#     that a program finds it through the rpath CMake gives it;
#   - STATIC: lib<name>.a holding one object of `modelc --emit=static` (the
#     model and the runtime, only the prefixed ABI global), for fully static
#     programs; it needs libm, threads and libdl, which the target brings.
# Either way the target carries the model's header, <name>.h
# (`modelc --emit=header`), and <modelc/modelc.h> on its include path. The
# model is compiled again when the .mdl, the weights, the compiler or its
# runtime change. Relative paths are from the current source directory.
# Sets <out> to --<name>=<value> for each of <names> given to the caller as
# ARG_<NAME>.
macro(_modelc_flags out)
  set(${out} "")
  foreach(_option ${ARGN})
    if(ARG_${_option})
      string(TOLOWER "${_option}" _flag)
      list(APPEND ${out} "--${_flag}=${ARG_${_option}}")
    endif()
  endforeach()
endmacro()

function(modelc_add_model name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "STATIC"
    "SOURCE;TARGET;CPU;MTRIPLE;PREFIX;MODEL;WEIGHTS" "OPTIONS")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "modelc_add_model(${name}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SOURCE)
    message(FATAL_ERROR "modelc_add_model(${name}): SOURCE model.mdl is required")
  endif()
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_.+-]*$")
    message(FATAL_ERROR "modelc_add_model(${name}): '${name}' is not a usable target name")
  endif()
  if(TARGET ${name})
    message(FATAL_ERROR "modelc_add_model(${name}): a target named '${name}' already exists")
  endif()
  if(ARG_TARGET AND NOT ARG_TARGET MATCHES "^(cpu|cuda)$")
    message(FATAL_ERROR "modelc_add_model(${name}): TARGET must be cpu or cuda, not '${ARG_TARGET}'")
  endif()
  get_filename_component(source "${ARG_SOURCE}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${source}")
    message(FATAL_ERROR "modelc_add_model(${name}): SOURCE '${ARG_SOURCE}' does not exist")
  endif()

  # The options of the library and of its header (which needs the same
  # model and prefix, nothing about the code): ARG_<NAME> as --<name>=.
  _modelc_flags(select MODEL PREFIX)
  _modelc_flags(codegen TARGET CPU MTRIPLE)
  set(depends "${source}" "${MODELC_EXECUTABLE}")
  if(ARG_WEIGHTS)
    get_filename_component(weights "${ARG_WEIGHTS}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND codegen "--weights=${weights}")
    list(APPEND depends "${weights}")
  endif()
  list(APPEND codegen ${ARG_OPTIONS})
  # The runtime linked into the library (a cross target's in its subdirectory).
  if(ARG_MTRIPLE MATCHES "^aarch64")
    list(APPEND depends "${MODELC_RUNTIME_DIR}/aarch64-linux-gnu/libmodelc_runtime.a")
  else()
    list(APPEND depends "${MODELC_RUNTIME_DIR}/libmodelc_runtime.a")
  endif()

  set(dir "${CMAKE_CURRENT_BINARY_DIR}/modelc/${name}")
  set(header "${dir}/include/${name}.h")
  # (An imported target's include directories must exist when CMake
  # generates the build.)
  file(MAKE_DIRECTORY "${dir}/include")
  if(ARG_STATIC)
    set(object "${dir}/${name}.o")
    set(library "${dir}/lib${name}.a")
    add_custom_command(OUTPUT "${library}" "${header}"
      COMMAND "${MODELC_EXECUTABLE}" "${source}" ${select} ${codegen} --emit=static -o "${object}"
      COMMAND "${CMAKE_COMMAND}" -E rm -f "${library}"
      COMMAND "${CMAKE_AR}" qc "${library}" "${object}"
      COMMAND "${MODELC_EXECUTABLE}" "${source}" ${select} --emit=header -o "${header}"
      DEPENDS ${depends}
      COMMENT "modelc: compiling ${ARG_SOURCE} into lib${name}.a"
      VERBATIM)
    add_library(${name} STATIC IMPORTED GLOBAL)
    find_package(Threads REQUIRED)
    set_target_properties(${name} PROPERTIES
      IMPORTED_LOCATION "${library}"
      INTERFACE_LINK_LIBRARIES "m;Threads::Threads;${CMAKE_DL_LIBS}")
  else()
    set(library "${dir}/lib${name}.so")
    add_custom_command(OUTPUT "${library}" "${header}"
      COMMAND "${MODELC_EXECUTABLE}" "${source}" ${select} ${codegen} -o "${library}"
      COMMAND "${MODELC_EXECUTABLE}" "${source}" ${select} --emit=header -o "${header}"
      DEPENDS ${depends}
      COMMENT "modelc: compiling ${ARG_SOURCE} into lib${name}.so"
      VERBATIM)
    add_library(${name} SHARED IMPORTED GLOBAL)
    set_target_properties(${name} PROPERTIES
      IMPORTED_LOCATION "${library}"
      IMPORTED_SONAME "lib${name}.so")
  endif()
  set_property(TARGET ${name} PROPERTY
    INTERFACE_INCLUDE_DIRECTORIES "${dir}/include;${MODELC_INCLUDE_DIRS}")
  # Building anything that links <name> builds the model first.
  add_custom_target(${name}_modelc DEPENDS "${library}" "${header}")
  add_dependencies(${name} ${name}_modelc)
endfunction()
