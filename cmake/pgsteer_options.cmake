# Shared compile options. pgsteer_instrument carries sanitizer/fuzzer flags and is used by every
# target, third-party translation units (asio/) included; pgsteer_options adds our warnings and is
# linked by every target made of our own code.
add_library(pgsteer_instrument INTERFACE)
add_library(pgsteer_options INTERFACE)
target_link_libraries(pgsteer_options INTERFACE pgsteer_instrument)
target_compile_options(pgsteer_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
if(PGSTEER_WERROR)
  target_compile_options(pgsteer_options INTERFACE -Werror)
endif()
if(PGSTEER_SANITIZE)
  target_compile_options(pgsteer_instrument INTERFACE -fsanitize=${PGSTEER_SANITIZE} -fno-omit-frame-pointer
                                                   -fno-sanitize-recover=all)
  target_link_options(pgsteer_instrument INTERFACE -fsanitize=${PGSTEER_SANITIZE})
endif()
if(PGSTEER_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PGSTEER_BUILD_FUZZERS needs clang: CXX=clang++-14")
  endif()
  target_compile_options(pgsteer_instrument INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                                                   -fno-omit-frame-pointer)
  target_link_options(pgsteer_instrument INTERFACE -fsanitize=address,undefined)
endif()

# Adds a library target for one folder: sources are <folder>/src/*.cpp, public headers
# <folder>/include/pgsteer/<folder>/*.hpp.
function(pgsteer_folder_library name)
  file(GLOB _srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  add_library(${name} STATIC ${_srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                     PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${name} PRIVATE pgsteer_options)
endfunction()
