#!/usr/bin/env bash
# The GPU campaign for one lent H200 machine (device tool), one call of about 8 minutes:
#   run(command="bash benchmarks/device_run.sh", timeout_s=560)
#   run(command="CAMPAIGN=authors bash benchmarks/device_run.sh", timeout_s=560)
# then, on the returned files:  python tools/device_pack.py unpack <files_at>
#
# CAMPAIGN=settled (the default) runs studies/settled.py --gpu (the settled answer's recipe
# and windows on d = 1024 … 2, the largest first); CAMPAIGN=authors runs the authors'
# workbench's pending quick cells (studies/authors.py --quick: N = 128 and the shells' seeds
# 4-7; docs/performance.md has their CPU costs), the primary arm first. Either goes into a
# work folder outside $OUT, stops starting cells after
# STOP_AFTER seconds (a hard limit kills it at LIMIT), and packs the cell store and the
# report into at most 5 files under $OUT (tools/device_pack.py: parts of <= 15 MiB, 60 MiB
# in all, tables first, checkpoints last). A later run resumes from the committed store.
# DMDLAB_REHEARSAL=1: the same steps in the study's --smoke mode, no install (the test).
set -uo pipefail
: "${OUT:?set OUT to the output folder}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
CAMPAIGN=${CAMPAIGN:-settled}
case "$CAMPAIGN" in
    settled|authors) ;;
    *) echo "CAMPAIGN=$CAMPAIGN is invalid: allowed settled, authors" >&2; exit 2 ;;
esac
MODE=--quick; STOP_AFTER=${STOP_AFTER:-400}; LIMIT=${LIMIT:-470}
WORK="$(mktemp -d)"
if [ "${DMDLAB_REHEARSAL:-0}" = 1 ]; then
    MODE=--smoke; STOP_AFTER=${STOP_AFTER_REHEARSAL:-600}
else
    pip install -q --no-index --no-deps --no-build-isolation -e . > "$WORK/install.txt" 2>&1 \
        || { cp "$WORK/install.txt" "$OUT/log.txt"; exit 1; }
    nvidia-smi > "$WORK/nvidia-smi.txt" 2>&1
fi
export DMDLAB_CACHE_DIR="${DMDLAB_CACHE_DIR:-$WORK/xla}"  # the test suite passes its shared cache
name=$CAMPAIGN-${MODE#--}
# the committed store travels with the tree: start from it, so finished cells are skipped
mkdir -p "$WORK/cells-${MODE#--}"
cp -r "studies/out/cells-${MODE#--}/." "$WORK/cells-${MODE#--}/" 2>/dev/null || true
start=$(date +%s)
UNTIL=""; [ "${DMDLAB_REHEARSAL:-0}" = 1 ] && UNTIL="--until 40"  # the rehearsal: one window
if [ "$CAMPAIGN" = authors ]; then
    ARGS=(studies/authors.py "$MODE" --stop-after "$STOP_AFTER")
else
    ARGS=(studies/settled.py "$MODE" --gpu --stop-after "$STOP_AFTER" $UNTIL)
fi
timeout "$LIMIT" python "${ARGS[@]}" --out "$WORK/$name" > "$WORK/study.txt" 2>&1
echo "$CAMPAIGN rc=$? after $(( $(date +%s) - start )) s (124: killed at the limit; 0 or 1: stopped between cells)" >> "$WORK/study.txt"
# only the cells this run made or extended go back (the committed ones are already home)
NEW="$WORK/pack-store/cells-${MODE#--}"
mkdir -p "$NEW"
for f in "$WORK/cells-${MODE#--}"/*; do
    [ -f "$f" ] || continue  # teachers/ stays: a GPU's teachers are for GPU cells only
    base=$(basename "$f")
    cmp -s "$f" "studies/out/cells-${MODE#--}/$base" 2>/dev/null && continue
    cp "$f" "$NEW/"
done
python tools/device_pack.py pack --store "$WORK/pack-store/cells-${MODE#--}" \
    --extra "$WORK/$name" --out "$OUT" >> "$WORK/study.txt" 2>&1
cat "$WORK"/nvidia-smi.txt "$WORK/study.txt" > "$OUT/log.txt" 2>/dev/null || cp "$WORK/study.txt" "$OUT/log.txt"
rm -rf "$WORK"
