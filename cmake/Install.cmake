# `cmake --install build --prefix P` (`make install PREFIX=P`): the tools,
# the headers, the runtime the compiler links into every library, the
# documentation, the CMake package and the pkg-config file. The tree is
# relocatable: modelc finds the runtime in lib/ beside its bin/, modelc-run
# finds libmodelc_dist.so there, and the CMake and pkg-config files find the
# prefix from their own place. Beside it, the build tree has its own
# modelcConfig.cmake (lib/cmake/modelc/) pointing into the build and source
# trees, so that a project can use a build without installing it.
#
#   P/bin/            modelc, modelc-run, mdl-opt
#   P/include/modelc/ modelc.h, modelc.hpp, dist.h
#   P/lib/            libmodelc_runtime.a and its link files, libmodelc_dist.so,
#                     aarch64-linux-gnu/ (the ARM64 runtime and bin/modelc-run,
#                     when built)
#   P/lib/cmake/modelc/  modelcConfig.cmake, modelcConfigVersion.cmake,
#                        modelcFunctions.cmake
#   P/lib/pkgconfig/  modelc.pc
#   P/share/doc/modelc/  README.md and docs/
include(CMakePackageConfigHelpers)

set(MODELC_LIB_DIR ${CMAKE_BINARY_DIR}/lib)
set(MODELC_CMAKE_DIR ${MODELC_LIB_DIR}/cmake/modelc)

# The compiler runs from any prefix but needs LLVM's and MLIR's shared
# libraries where Debian puts them.
set_target_properties(modelc mdl-opt PROPERTIES INSTALL_RPATH "${LLVM_LIBRARY_DIR}")
install(TARGETS modelc mdl-opt modelc-run RUNTIME DESTINATION bin)
install(DIRECTORY runtime/include/modelc DESTINATION include)
install(TARGETS modelc_runtime ARCHIVE DESTINATION lib)
install(FILES ${MODELC_LIB_DIR}/modelc_runtime.symbols ${MODELC_LIB_DIR}/modelc_runtime.map.in
              ${MODELC_LIB_DIR}/modelc_runtime.ldflags
        DESTINATION lib)
if(TARGET modelc_dist)
  install(TARGETS modelc_dist LIBRARY DESTINATION lib)
endif()
if(MODELC_HAVE_AARCH64)
  install(DIRECTORY ${MODELC_AARCH64_LIB_DIR} DESTINATION lib)
  # The ARM64 modelc-run, to copy to the board with the libraries.
  install(PROGRAMS ${MODELC_AARCH64_BINARY_DIR}/bin/modelc-run
          DESTINATION lib/aarch64-linux-gnu/bin)
endif()
install(FILES README.md DESTINATION share/doc/modelc)
install(DIRECTORY docs/ DESTINATION share/doc/modelc/docs)

write_basic_package_version_file(${MODELC_CMAKE_DIR}/modelcConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)

# The installed config: the prefix from its own place (P/lib/cmake/modelc).
set(MODELC_CONFIG_LAYOUT [[
get_filename_component(_modelc_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(_modelc_bin_dir "${_modelc_prefix}/bin")
set(_modelc_include_dir "${_modelc_prefix}/include")
set(_modelc_lib_dir "${_modelc_prefix}/lib")
set(_modelc_functions "${CMAKE_CURRENT_LIST_DIR}/modelcFunctions.cmake")]])
configure_file(cmake/modelcConfig.cmake.in ${CMAKE_BINARY_DIR}/install/modelcConfig.cmake @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/install/modelcConfig.cmake
              ${MODELC_CMAKE_DIR}/modelcConfigVersion.cmake
              cmake/modelcFunctions.cmake
        DESTINATION lib/cmake/modelc)
configure_file(cmake/modelc.pc.in ${CMAKE_BINARY_DIR}/install/modelc.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/install/modelc.pc DESTINATION lib/pkgconfig)

# The build tree's config: this build's tools and runtime, the source
# tree's headers and functions.
set(MODELC_CONFIG_LAYOUT "\
set(_modelc_bin_dir \"${CMAKE_BINARY_DIR}/bin\")
set(_modelc_include_dir \"${PROJECT_SOURCE_DIR}/runtime/include\")
set(_modelc_lib_dir \"${MODELC_LIB_DIR}\")
set(_modelc_functions \"${PROJECT_SOURCE_DIR}/cmake/modelcFunctions.cmake\")")
configure_file(cmake/modelcConfig.cmake.in ${MODELC_CMAKE_DIR}/modelcConfig.cmake @ONLY)
