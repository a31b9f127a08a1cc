# Shared compile options: every pgsteer target links pgsteer_options.
add_library(pgsteer_options INTERFACE)
target_compile_options(pgsteer_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough)
if(PGSTEER_WERROR)
  target_compile_options(pgsteer_options INTERFACE -Werror)
endif()
if(PGSTEER_SANITIZE)
  target_compile_options(pgsteer_options INTERFACE -fsanitize=${PGSTEER_SANITIZE} -fno-omit-frame-pointer
                                                   -fno-sanitize-recover=all)
  target_link_options(pgsteer_options INTERFACE -fsanitize=${PGSTEER_SANITIZE})
endif()
if(PGSTEER_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "PGSTEER_BUILD_FUZZERS needs clang: CXX=clang++-14")
  endif()
  target_compile_options(pgsteer_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
                                                   -fno-omit-frame-pointer)
  target_link_options(pgsteer_options INTERFACE -fsanitize=address,undefined)
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
