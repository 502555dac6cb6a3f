# Warnings (errors in CI) and the sanitizer switch, applied to every rgpu target.
add_compile_options(-Wall -Wextra -Wno-unused-parameter)
if(RGPU_WERROR)
  add_compile_options(-Werror)
endif()
if(RGPU_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
