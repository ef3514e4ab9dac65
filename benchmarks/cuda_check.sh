#!/usr/bin/env bash
# The CUDA checks of issue 24, as one short script for a lent GPU (the `device` tool's `run`; never CI):
#   1. tests/train/test_cuda.py: every image family trains in fp32 and bf16 with channels_last, resumes and is scored
#      on the GPU; precision auto picks bf16 there; CPU and GPU generators agree in fp32; torchrun on the GPU (NCCL);
#   2. `gankit bench` of the card presets on the GPU, fp32 and bf16, channels_last (benchmarks/bench_presets.py).
# Everything it writes goes to ${OUT:-runs/cuda-check}: gpu.txt, pytest.log, bench-cuda.md, bench-cuda-json.tgz.
#
# The GPU machine's Python has torch and most of gankit's needs, but not pydantic. Before the call, in the repo root
# here: echo /.whl/ >> .git/info/exclude, then download for Python 3.12 (see the device tool's README, "wheels"):
#   pydantic, pydantic-core, annotated-types, typing-inspection (versions as `pip show` gives them in .venv)
# and call: run(command="bash benchmarks/cuda_check.sh", carry=[".whl"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/cuda-check}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'bf16', torch.cuda.is_bf16_supported())" \
    | tee -a "$OUT/gpu.txt"
timeout 300 python3 -m pytest -p no:cacheprovider -q -x tests/train/test_cuda.py 2>&1 | tee "$OUT/pytest.log"
tests=${PIPESTATUS[0]}
timeout 200 python3 benchmarks/bench_presets.py --device cuda --precisions fp32 bf16 --set train.channels_last=true \
    --only wgan_gp_cifar10 stargan_celeba compare_gan_resnet_cifar10 --out "$OUT/bench-cuda.md" 2>&1 | tail -20
tar czf "$OUT/bench-cuda-json.tgz" -C "$OUT" bench-cuda && rm -r "$OUT/bench-cuda"  # the tool brings back 8 files at most
echo "tests exit status: $tests"
exit "$tests"
