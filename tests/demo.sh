#!/usr/bin/env bash
# The end-to-end demo (make demo). Grows with each capability; see issue "The first five minutes".
set -euo pipefail
echo "ghlsync demo: not available yet: the engine's pull and push land in later issues."
echo "What exists today: 'make test' (build, private PostgreSQL, all tests) and build/rel/ghlsync --help."
