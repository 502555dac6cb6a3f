# Warnings (errors in CI) and the sanitizer switch, applied to every rgpu target.
add_compile_options(-Wall -Wextra -Wno-unused-parameter)
if(RGPU_WERROR)
  add_compile_options(-Werror)
endif()
if(RGPU_FUZZ)
  # Fuzz build (clang): everything instrumented for coverage and checked by ASan/UBSan; the
  # fuzz targets link libFuzzer (tests/fuzz/).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(RGPU_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
# GCC 12 reports false -Wrestrict/-Wstringop-overflow positives inside libstdc++'s std::string at
# -O3 (GCC bug 105329); they are not about our code.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  add_compile_options(-Wno-restrict)
endif()
