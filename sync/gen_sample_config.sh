#!/bin/sh
# Regenerates sync/sample_config.c (the text `ghlsync init` writes) from the top-level sync.toml.
# Run from the repository root after editing sync.toml; test_cli fails while the two differ.
set -e
{
    echo '/* sample_config.c - the annotated sync.toml written by `ghlsync init`.'
    echo ' * GENERATED from the top-level sync.toml by sync/gen_sample_config.sh: edit sync.toml. */'
    echo '#include "config.h"'
    echo
    echo '/* clang-format off */'
    echo 'const char cfg_sample_toml[] ='
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$/\\n"/' sync.toml
    echo '    "";'
    echo '/* clang-format on */'
} > sync/sample_config.c.tmp
mv sync/sample_config.c.tmp sync/sample_config.c
