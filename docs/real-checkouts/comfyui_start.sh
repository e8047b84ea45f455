#!/bin/bash
# The ComfyUI demo of docs/comfyui-start.md, run by hand: comfyui status/install, starts, the probe, uninstall.
#   docs/real-checkouts/comfyui_start.sh TREE PYTHON_BIN_DIR TORCHAUDIO_STUB CACHE_DIR > out.txt
set -u
TREE=$1 BIN=$2
export PYTHONPATH=$3 CONTIGUIFY_CACHE_DIR=$4
PROBE=$(cd "$(dirname "$0")" && pwd)/comfyui_probe.py
cd "$TREE" || exit 2
plain() { sed 's/\x1b\[[0-9;]*m//g'; }
run() { echo "\$ $*"; "$@" 2>&1 | plain; echo "(exit ${PIPESTATUS[0]})"; echo; }
files() { find . -type f -not -path "*/__pycache__/*" | sort; }
digest() { tr '\n' '\0' < /tmp/contiguify_files_before | xargs -0 sha256sum | sha256sum | cut -c1-16; }
start() {  # $1: what runs main.py
    echo "\$ $BIN/python $1 --cpu --quick-test-for-ci    # lines shown: contiguify's, the probe's, node times, errors"
    "$BIN/python" "$1" --cpu --quick-test-for-ci > /tmp/contiguify_start.log 2>&1
    local code=$?
    plain < /tmp/contiguify_start.log | grep -E "^contiguify|^probe|seconds: |Torch already|Traceback|Error"
    echo "(exit $code)"; echo
}
"$BIN/contiguify" comfyui uninstall . > /dev/null 2>&1
files > /tmp/contiguify_files_before
echo "tree: $TREE, $(wc -l < /tmp/contiguify_files_before) files; sha256 of them all: $(digest)"; echo
run "$BIN/pip" show contiguify
run "$BIN/contiguify" comfyui status .
run "$BIN/contiguify" comfyui install .
run "$BIN/contiguify" comfyui status .
rm -rf "$CONTIGUIFY_CACHE_DIR"
start main.py
start main.py
start "$PROBE"
echo "sha256 of the files that were there before, now: $(digest)"; echo
run "$BIN/contiguify" comfyui uninstall .
start main.py
start "$PROBE"
echo "sha256 of the files that were there before, at the end: $(digest)"
echo "files now that were not there before (written by ComfyUI's start):"
files | comm -13 /tmp/contiguify_files_before - | sed 's/^/  /'
echo "files gone: $(files | comm -23 /tmp/contiguify_files_before - | wc -l)"
