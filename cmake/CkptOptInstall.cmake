# `cmake --install`: the libraries (compiler and runtime), their headers and
# TableGen files, the tools, the plugin and a package config, so that an
# out-of-tree project finds them with find_package(CkptOpt) as namespaced
# targets (docs/embedding.md; scripts/check-install.sh builds a consumer).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(CKPT_INSTALLED_LIBRARIES
  CkptOutput CkptSupport CkptOptions CkptPlan CkptOpTable CkptPlanner CkptInterfaces CkptXF
  CkptDialect
  CkptAnalysis CkptReport CkptRewrite CkptSolver CkptTransforms CkptModelConfig
  CkptToolSupport
  CkptConfigImport CkptProgramExport CkptCompiler CkptCAPI CkptOptC
  ckpt_runtime_core ckpt_runtime_cpu ckpt_runtime_reference ckpt_runtime_cuda
  ckpt_runtime)
install(TARGETS ${CKPT_INSTALLED_LIBRARIES}
  EXPORT CkptOptTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT CkptOptTargets
  NAMESPACE CkptOpt::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/CkptOpt)

# Headers and TableGen sources, the generated .inc files beside them.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ckpt
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" PATTERN "*.def" PATTERN "*.td")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/ckpt
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.inc"
  PATTERN "CMakeFiles" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/ckpt
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ckpt-c
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(TARGETS ckpt-opt ckpt-translate ckpt-compile ckpt-dsa ckpt-run
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
set(CKPT_INSTALLS_PLUGIN FALSE)
if(TARGET CkptPlugin)
  install(TARGETS CkptPlugin LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  set(CKPT_INSTALLS_PLUGIN TRUE)
endif()

# Installed tools find Debian's shared MLIR and LLVM where the build found
# them: add_llvm_executable's $ORIGIN/../lib alone holds no libMLIR.so.
foreach(tool IN ITEMS ckpt-opt ckpt-translate ckpt-compile)
  set_property(TARGET ${tool} APPEND PROPERTY INSTALL_RPATH
    "${LLVM_LIBRARY_DIR}")
endforeach()

# The runtime found MPI in its own folder's scope: ask its target.
get_target_property(runtime_links ckpt_runtime_core INTERFACE_LINK_LIBRARIES)
if("MPI::MPI_C" IN_LIST runtime_links)
  set(CKPT_RUNTIME_USES_MPI TRUE)
else()
  set(CKPT_RUNTIME_USES_MPI FALSE)
endif()
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/CkptOptConfig.cmake.in
  ${PROJECT_BINARY_DIR}/CkptOptConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/CkptOpt
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/CkptOptConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/CkptOptConfig.cmake
              ${PROJECT_BINARY_DIR}/CkptOptConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/CkptOpt)
