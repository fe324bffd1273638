#!/usr/bin/env bash
# The one prepared run for a lent GPU machine (device tool), about 8 minutes:
#   run(command="bash benchmarks/device_run.sh", timeout_s=540)
# Writes everything under $OUT: the benchmark grid of issue 7, f32 vs bf16 products, then as
# many cells of the full dimension study as fit (finished cells are kept; a later run resumes
# them).
set -uo pipefail
: "${OUT:?set OUT to the output folder}"
pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
export DMDLAB_CACHE_DIR="$OUT/xla"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python -c "import jax; print(jax.devices())" > "$OUT/devices.txt" 2>&1
timeout 200 python benchmarks/bench.py --dims 2 64 512 2048 --seeds 1 8 64 --steps 50 \
    --loop-max 2 --ode-dims 2 512 2048 > "$OUT/bench.txt" 2>&1
echo "bench rc=$?" >> "$OUT/bench.txt"
timeout 90 python benchmarks/bench.py --dims 512 2048 --seeds 8 64 --steps 50 --loop-max 1 \
    --ode-dims --dtypes float32 bfloat16 > "$OUT/bench_dtypes.txt" 2>&1
echo "bench rc=$?" >> "$OUT/bench_dtypes.txt"
# the full studies' cells share one store under $OUT; each stops at its time limit and a
# later run resumes from the cells it kept (copy $OUT/studies back into studies/out/)
for study in dimension protocols methods; do
    timeout 60 python studies/$study.py --out "$OUT/studies/$study" > "$OUT/$study.txt" 2>&1
    echo "$study study rc=$? (124 = stopped by the time limit; its finished cells are kept)" \
        >> "$OUT/$study.txt"
done
