# ctest go.generated: regenerate the SWIG low layer into OUT with generate.sh and compare
# it byte for byte with the committed internal/lowlevel/{lowlevel.go,gptaq_wrap.c}.
# cmake -DSWIG=... -DMODULE=<bindings/go> -DOUT=<dir> -P check_generated.cmake
file(REMOVE_RECURSE ${OUT})
execute_process(COMMAND ${CMAKE_COMMAND} -E env SWIG=${SWIG} sh ${MODULE}/generate.sh ${OUT}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "generate.sh failed (${rc}): ${err}")
endif()
foreach(f lowlevel.go gptaq_wrap.c)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUT}/${f} ${MODULE}/internal/lowlevel/${f}
    RESULT_VARIABLE diff)
  if(NOT diff EQUAL 0)
    message(FATAL_ERROR "internal/lowlevel/${f} differs from SWIG's output (${OUT}/${f}): "
      "run `go generate ./internal/lowlevel` (or sh bindings/go/generate.sh) and commit the result")
  endif()
endforeach()
message("go generated: OK (lowlevel.go and gptaq_wrap.c match SWIG's output)")
