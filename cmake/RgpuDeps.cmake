# Third-party libraries, all from Debian packages (scripts/install-deps.sh).
# Each becomes an imported target rgpu::<name>. With RGPU_STATIC_DEPS the static archive is used,
# so libcuda.so.1 and the daemons carry their dependencies with them.
find_package(Threads REQUIRED)

function(rgpu_dep target)
  cmake_parse_arguments(D "" "HEADER" "NAMES" ${ARGN})
  set(names ${D_NAMES})
  if(RGPU_STATIC_DEPS)
    set(static_names)
    foreach(n ${names})
      list(APPEND static_names lib${n}.a)
    endforeach()
    set(names ${static_names} ${names})
  endif()
  find_library(RGPU_LIB_${target} NAMES ${names})
  if(NOT RGPU_LIB_${target})
    message(FATAL_ERROR "rgpu: library '${D_NAMES}' not found. Run scripts/install-deps.sh first.")
  endif()
  if(D_HEADER)
    find_path(RGPU_INC_${target} ${D_HEADER})
    if(NOT RGPU_INC_${target})
      message(FATAL_ERROR "rgpu: header '${D_HEADER}' not found. Run scripts/install-deps.sh first.")
    endif()
  endif()
  add_library(rgpu::${target} UNKNOWN IMPORTED GLOBAL)
  set_target_properties(rgpu::${target} PROPERTIES IMPORTED_LOCATION ${RGPU_LIB_${target}})
  if(D_HEADER)
    set_target_properties(rgpu::${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${RGPU_INC_${target}})
  endif()
endfunction()

if(RGPU_STATIC_DEPS)
  # Debian's libkj.a is built with local-exec TLS and cannot go into a shared object, so the
  # self-contained libcuda.so.1 needs kj and capnp compiled with -fPIC: built here from the same
  # 0.9.2 source Debian ships (scripts/fetch-capnp-source.sh fetches it with apt-get source).
  set(RGPU_CAPNP_TARBALL ${PROJECT_SOURCE_DIR}/third_party/src/capnproto_0.9.2.orig.tar.gz)
  if(NOT EXISTS ${RGPU_CAPNP_TARBALL})
    message(FATAL_ERROR "rgpu: RGPU_STATIC_DEPS needs ${RGPU_CAPNP_TARBALL}; run scripts/fetch-capnp-source.sh")
  endif()
  include(ExternalProject)
  set(_pic ${CMAKE_BINARY_DIR}/third_party/capnp-pic)
  ExternalProject_Add(rgpu_capnp_pic_build
    URL ${RGPU_CAPNP_TARBALL}
    DOWNLOAD_EXTRACT_TIMESTAMP TRUE
    PREFIX ${_pic}
    CMAKE_ARGS -DCMAKE_BUILD_TYPE=Release -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_TESTING=OFF
               -DWITH_OPENSSL=OFF -DWITH_ZLIB=OFF -DCMAKE_CXX_FLAGS=-fvisibility=hidden
    BUILD_COMMAND ${CMAKE_COMMAND} --build <BINARY_DIR> --target kj kj-async capnp capnp-rpc
    INSTALL_COMMAND ""
    BUILD_BYPRODUCTS ${_pic}/src/rgpu_capnp_pic_build-build/src/kj/libkj.a
                     ${_pic}/src/rgpu_capnp_pic_build-build/src/capnp/libcapnp.a
                     ${_pic}/src/rgpu_capnp_pic_build-build/src/kj/libkj-async.a
                     ${_pic}/src/rgpu_capnp_pic_build-build/src/capnp/libcapnp-rpc.a
    LOG_CONFIGURE ON LOG_BUILD ON)
  # The archives are IMPORTED STATIC targets that know what each needs, so CMake orders them
  # (capnp-rpc before capnp, kj-async before kj) even when a target reaches libcapnp.a first
  # through another library (the shim: rgpu_protocol, then rgpu_control's capnp-rpc). The
  # INTERFACE wrappers carry the dependency on the ExternalProject build.
  set(_pic_lib ${_pic}/src/rgpu_capnp_pic_build-build/src)
  foreach(_l kj kj_async capnp capnp_rpc)
    add_library(rgpu_${_l}_pic_a STATIC IMPORTED)
  endforeach()
  set_target_properties(rgpu_kj_pic_a PROPERTIES IMPORTED_LOCATION ${_pic_lib}/kj/libkj.a
    INTERFACE_LINK_LIBRARIES Threads::Threads)
  set_target_properties(rgpu_kj_async_pic_a PROPERTIES IMPORTED_LOCATION
    ${_pic_lib}/kj/libkj-async.a INTERFACE_LINK_LIBRARIES rgpu_kj_pic_a)
  set_target_properties(rgpu_capnp_pic_a PROPERTIES IMPORTED_LOCATION
    ${_pic_lib}/capnp/libcapnp.a INTERFACE_LINK_LIBRARIES rgpu_kj_pic_a)
  set_target_properties(rgpu_capnp_rpc_pic_a PROPERTIES IMPORTED_LOCATION
    ${_pic_lib}/capnp/libcapnp-rpc.a INTERFACE_LINK_LIBRARIES "rgpu_capnp_pic_a;rgpu_kj_async_pic_a")
  foreach(_l kj kj_async capnp capnp_rpc)
    add_library(rgpu_${_l}_pic INTERFACE)
    target_link_libraries(rgpu_${_l}_pic INTERFACE rgpu_${_l}_pic_a)
    add_dependencies(rgpu_${_l}_pic rgpu_capnp_pic_build)
  endforeach()
  add_library(rgpu::kj ALIAS rgpu_kj_pic)
  add_library(rgpu::capnp ALIAS rgpu_capnp_pic)
  add_library(rgpu::kj_async ALIAS rgpu_kj_async_pic)
  add_library(rgpu::capnp_rpc ALIAS rgpu_capnp_rpc_pic)
  find_path(RGPU_INC_kj kj/common.h)
else()
  rgpu_dep(kj NAMES kj HEADER kj/common.h)
  rgpu_dep(capnp NAMES capnp HEADER capnp/message.h)
  set_property(TARGET rgpu::capnp APPEND PROPERTY INTERFACE_LINK_LIBRARIES rgpu::kj)
  set_property(TARGET rgpu::kj APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads)
  rgpu_dep(kj_async NAMES kj-async)
  rgpu_dep(capnp_rpc NAMES capnp-rpc)
  set_property(TARGET rgpu::capnp_rpc APPEND PROPERTY INTERFACE_LINK_LIBRARIES rgpu::capnp rgpu::kj_async)
  set_property(TARGET rgpu::kj_async APPEND PROPERTY INTERFACE_LINK_LIBRARIES rgpu::kj)
endif()
rgpu_dep(kj_tls NAMES kj-tls)
rgpu_dep(ssl NAMES ssl HEADER openssl/ssl.h)
rgpu_dep(crypto NAMES crypto)
rgpu_dep(lz4 NAMES lz4 HEADER lz4.h)
rgpu_dep(zstd NAMES zstd HEADER zstd.h)
rgpu_dep(uv NAMES uv_a uv HEADER uv.h)
rgpu_dep(sqlite3 NAMES sqlite3 HEADER sqlite3.h)

set_property(TARGET rgpu::kj_tls APPEND PROPERTY INTERFACE_LINK_LIBRARIES rgpu::kj_async rgpu::ssl)
set_property(TARGET rgpu::ssl APPEND PROPERTY INTERFACE_LINK_LIBRARIES rgpu::crypto)
set_property(TARGET rgpu::crypto APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads ${CMAKE_DL_LIBS})
set_property(TARGET rgpu::uv APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads ${CMAKE_DL_LIBS})
set_property(TARGET rgpu::sqlite3 APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads ${CMAKE_DL_LIBS} m)

# PostgreSQL's client (pool_manager/pg_store.cc), from libpq-dev: always the shared library
# (its static archive needs libpgcommon, libpgport and Kerberos besides).
find_library(RGPU_LIB_pq NAMES libpq.so.5 pq)
find_path(RGPU_INC_pq libpq-fe.h PATH_SUFFIXES postgresql)
if(NOT RGPU_LIB_pq OR NOT RGPU_INC_pq)
  message(FATAL_ERROR "rgpu: libpq-dev was not found. Run scripts/install-deps.sh.")
endif()
add_library(rgpu::pq UNKNOWN IMPORTED GLOBAL)
set_target_properties(rgpu::pq PROPERTIES IMPORTED_LOCATION ${RGPU_LIB_pq}
  INTERFACE_INCLUDE_DIRECTORIES ${RGPU_INC_pq})

# JSON (header-only): ledger entry bodies in the pool, `rgpu ledger verify` reading an export.
find_package(nlohmann_json 3.2 QUIET)
if(NOT TARGET nlohmann_json::nlohmann_json)
  message(FATAL_ERROR "rgpu: nlohmann-json3-dev was not found. Run scripts/install-deps.sh.")
endif()

# HTTP(S) for rgpu-pool's dashboard (pool_manager/dashboard_http.h): Debian's cpp-httplib, a
# shared library built with OpenSSL, zlib and brotli; its header must see the same switches.
find_library(RGPU_LIB_httplib NAMES cpp-httplib)
find_path(RGPU_INC_httplib httplib.h)
if(NOT RGPU_LIB_httplib OR NOT RGPU_INC_httplib)
  message(FATAL_ERROR "rgpu: libcpp-httplib-dev was not found. Run scripts/install-deps.sh.")
endif()
add_library(rgpu::httplib UNKNOWN IMPORTED GLOBAL)
set_target_properties(rgpu::httplib PROPERTIES IMPORTED_LOCATION ${RGPU_LIB_httplib}
  INTERFACE_INCLUDE_DIRECTORIES ${RGPU_INC_httplib}
  INTERFACE_COMPILE_DEFINITIONS "CPPHTTPLIB_OPENSSL_SUPPORT;CPPHTTPLIB_ZLIB_SUPPORT;CPPHTTPLIB_BROTLI_SUPPORT")

find_program(RGPU_CAPNP capnp)
find_program(RGPU_CAPNPC_CXX capnpc-c++)
if(NOT RGPU_CAPNP OR NOT RGPU_CAPNPC_CXX)
  message(FATAL_ERROR "rgpu: the Cap'n Proto compiler (capnp, capnpc-c++) was not found. Run scripts/install-deps.sh.")
endif()

# rgpu_capnp(<out_var> <schema>...): compiles schemas into C++ sources in the build tree.
function(rgpu_capnp out_srcs)
  set(srcs)
  foreach(schema ${ARGN})
    get_filename_component(abs ${schema} ABSOLUTE)
    get_filename_component(name ${schema} NAME)
    get_filename_component(dir ${abs} DIRECTORY)
    set(out_dir ${CMAKE_CURRENT_BINARY_DIR})
    add_custom_command(
      OUTPUT ${out_dir}/${name}.c++ ${out_dir}/${name}.h
      COMMAND ${RGPU_CAPNP} compile -o${RGPU_CAPNPC_CXX}:${out_dir} --src-prefix=${dir} ${abs}
      DEPENDS ${abs}
      COMMENT "capnp ${name}")
    list(APPEND srcs ${out_dir}/${name}.c++)
  endforeach()
  set(${out_srcs} ${srcs} PARENT_SCOPE)
endfunction()

if(RGPU_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(RGPU_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
