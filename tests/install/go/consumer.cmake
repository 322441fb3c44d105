# Included by bindings/go/CMakeLists.txt (with GPTAQ_GO_EXECUTABLE and
# GPTAQ_PKG_CONFIG_EXECUTABLE found): the Go consumer tests against the installed prefix
# of the install.prefix fixture (tests/install/CMakeLists.txt).
#   install.go           codes == the CLI's with the library defaults spelled out
#   install.go_defaults  gptaq.DefaultConfig() == the CLI given no option
find_program(GPTAQ_GO_BASH bash)
if(GPTAQ_BUILD_TESTS AND GPTAQ_GO_BASH)
  foreach(_mode cli cli-defaults)
    set(_name install.go)
    if(_mode STREQUAL "cli-defaults")
      set(_name install.go_defaults)
    endif()
    add_test(NAME ${_name}
      COMMAND ${CMAKE_COMMAND} -E env GOCACHE=${PROJECT_BINARY_DIR}/tests/install/go-gocache
              ${GPTAQ_GO_BASH} ${CMAKE_CURRENT_LIST_DIR}/run.sh ${GPTAQ_TEST_PREFIX} ${GPTAQ_TEST_DATA}
              ${CMAKE_CURRENT_LIST_DIR} ${PROJECT_BINARY_DIR}/tests/install/go-${_mode}
              ${GPTAQ_GO_EXECUTABLE} ${GPTAQ_PKG_CONFIG_EXECUTABLE} ${_mode})
    set_tests_properties(${_name} PROPERTIES LABELS "install;go" TIMEOUT 600
      FIXTURES_REQUIRED gptaq_prefix RESOURCE_LOCK gptaq_prefix_dir
      PASS_REGULAR_EXPRESSION "go consumer: OK")
  endforeach()
endif()
