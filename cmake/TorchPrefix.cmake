# Lets find_package(Torch) find a pip-installed PyTorch: when Torch_DIR is unset and the python3 on PATH has
# torch, its torch.utils.cmake_prefix_path joins CMAKE_PREFIX_PATH. System installs (Debian's libtorch-dev,
# /usr/lib/<arch>/cmake/Torch) are found without this.
if(NOT Torch_DIR)
  find_program(STEER4J_PYTHON NAMES python3 python)
  if(STEER4J_PYTHON)
    execute_process(
      COMMAND "${STEER4J_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE STEER4J_TORCH_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
    if(rc EQUAL 0 AND STEER4J_TORCH_PREFIX)
      list(APPEND CMAKE_PREFIX_PATH "${STEER4J_TORCH_PREFIX}")
    endif()
  endif()
endif()
