#!/usr/bin/env bash
# On the GPU machine (CUDA torch, a C++ compiler, cmake; no JDK, no network): runs the project's Java
# tests tagged gpu, and with --bench the Java GPU benchmark, from the bundle that
# make_java_bundle.sh made on the CPU machine:
#   1. unpacks the bundle's Java runtime;
#   2. builds DJL's PyTorch JNI (libdjl_torch.so) from the DJL sources in the bundle (or --djl-src)
#      against this machine's torch, with CUDA, and puts it in torch's lib folder, where DJL looks;
#      and libflash_sigmoid_autograd (the differentiable op) against the same torch;
#   3. runs the tests with the JUnit console launcher and prints Surefire-style counts;
#   4. --bench: GpuBlockBenchmark and GpuTrainingBenchmark, writing their sections into
#      $OUT/BENCHMARKS.md;
#   5. --run "CLASS ARGS" (repeatable): any program of the bundle, e.g.
#      --run "io.github.sigmoidattention.examples.FineTuneComparison --device gpu(0) --compute-type bf16".
#
#   cuda-ops/gpu-tests/run_java_tests.sh [--bundle .gpu-bundle] [--djl-src TAR] [--bench] [--no-tests]
#                                        [--bench-args "..."] [--training-bench-args "..."]
#                                        [--run "CLASS ARGS"] [--work /tmp/fs-java]
# Exit status 1 if a test failed or errored, or the benchmark failed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
runs=()
bundle="$repo/.gpu-bundle" djl_src="" bench=0 tests=1 bench_args="" training_bench_args="" work="/tmp/fs-java"
out="${OUT:-/tmp/fs-gpu}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --djl-src) djl_src="$2"; shift 2 ;;
    --bench) bench=1; shift ;;
    --no-tests) tests=0; shift ;;
    --bench-args) bench_args="$2"; shift 2 ;;
    --training-bench-args) training_bench_args="$2"; shift 2 ;;
    --run) runs+=("$2"); shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)"; exit 2 ;;
  esac
done
bundle="$(cd "$bundle" 2>/dev/null && pwd)" || { echo "no bundle: run make_java_bundle.sh on the CPU machine"; exit 2; }
[ -n "$djl_src" ] || djl_src="$bundle/djl-jni-src.tar.gz"
mkdir -p "$work" "$out"
set -e

torch_dir="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
torch_version="$(python3 -c 'import torch; print(torch.__version__.split("+")[0])')"
cuda_flavor="cu$(python3 -c 'import torch; print((torch.version.cuda or "").replace(".", ""))')"
echo "torch $torch_version ($cuda_flavor) at $torch_dir"

# 1. The Java runtime.
if [ ! -x "$work/jre/bin/java" ]; then
  tar xJf "$bundle/jre.tar.xz" -C "$work"
fi
export JAVA_HOME="$work/jre"
"$JAVA_HOME/bin/java" -version 2>&1 | head -1

# 2. DJL's JNI against this torch (kept in $work between calls on one machine).
jni="$work/djl-build/libdjl_torch.so"
if [ ! -f "$jni" ]; then
  rm -rf "$work/djl-src" && mkdir -p "$work/djl-src"
  tar xzf "$djl_src" -C "$work/djl-src"
  native="$(dirname "$(find "$work/djl-src" -path '*pytorch-native/CMakeLists.txt' | head -1)")"
  mkdir -p "$native/build/include"
  cp "$bundle"/djl-jni-include/*.h "$native/build/include/"
  start=$SECONDS
  cmake -S "$native" -B "$native/build" -DCMAKE_PREFIX_PATH="$torch_dir/share/cmake" \
    -DUSE_CUDA=1 -DCMAKE_BUILD_TYPE=Release >"$work/djl-cmake.log" 2>&1 ||
    { tail -30 "$work/djl-cmake.log"; exit 1; }
  cmake --build "$native/build" -j "$(nproc)" >"$work/djl-build.log" 2>&1 ||
    { grep -m20 -i error "$work/djl-build.log"; exit 1; }
  mkdir -p "$work/djl-build"
  cp "$(find "$native/build" -name libdjl_torch.so | head -1)" "$jni"
  echo "built DJL's JNI against torch $torch_version in $((SECONDS - start)) s"
fi
cp "$jni" "$torch_dir/lib/"

# 2b. The autograd binding (the differentiable op) against the same torch, for training.
autograd="$work/autograd-build/libflash_sigmoid_autograd.so"
if [ ! -f "$autograd" ]; then
  start=$SECONDS
  cmake -S "$repo/cuda-ops/csrc" -B "$work/autograd-cmake" -DCMAKE_BUILD_TYPE=Release \
    -DFS_CUDA=OFF -DFS_BUILD_JNI=OFF -DFS_TORCH_FROM_PYTHON=ON \
    >"$work/autograd-cmake.log" 2>&1 || { tail -30 "$work/autograd-cmake.log"; exit 1; }
  cmake --build "$work/autograd-cmake" -j "$(nproc)" --target flash_sigmoid_autograd \
    >"$work/autograd-build.log" 2>&1 || { grep -m20 -i error "$work/autograd-build.log"; exit 1; }
  mkdir -p "$work/autograd-build"
  cp "$(find "$work/autograd-cmake" -name libflash_sigmoid_autograd.so | head -1)" "$autograd"
  echo "built libflash_sigmoid_autograd against torch $torch_version in $((SECONDS - start)) s"
fi
export FLASH_SIGMOID_AUTOGRAD_LIBRARY="$autograd"

export PYTORCH_LIBRARY_PATH="$torch_dir/lib" PYTORCH_VERSION="$torch_version" PYTORCH_FLAVOR="$cuda_flavor"
export PYTORCH_LIBRARY_EXCLUSION="libtorch_python.so,libshm.so,libtorch_nvshmem.so"
classpath="$bundle/test-classes:$(ls "$bundle"/lib/*.jar | tr '\n' ':')$bundle/junit-platform-console-standalone.jar"
java=("$JAVA_HOME/bin/java" -Dai.djl.offline=true -Djava.awt.headless=true -Dorg.slf4j.simpleLogger.defaultLogLevel=info
      -Dorg.slf4j.simpleLogger.log.ai.djl=warn -cp "$classpath")
set +e
failed=0

# 3. The tests tagged gpu.
if [ $tests -eq 1 ]; then
  reports="$out/java-test-reports"
  rm -rf "$reports"
  start=$SECONDS
  "${java[@]}" org.junit.platform.console.ConsoleLauncher execute \
    --scan-classpath "$bundle/test-classes" --include-tag gpu --details=tree --disable-banner \
    --reports-dir "$reports" >"$out/java-tests.log" 2>&1
  rc=$?
  tail -n 60 "$out/java-tests.log"
  python3 - "$reports" $((SECONDS - start)) <<'EOF'
import glob, sys, xml.etree.ElementTree as ET
run = failures = errors = skipped = 0
for f in glob.glob(sys.argv[1] + "/*.xml"):
    for s in ET.parse(f).getroot().iter("testsuite"):
        run += int(s.get("tests", 0)); failures += int(s.get("failures", 0))
        errors += int(s.get("errors", 0)); skipped += int(s.get("skipped", 0))
print(f"[java gpu tests] Tests run: {run}, Failures: {failures}, Errors: {errors}, Skipped: {skipped}, Time elapsed: {sys.argv[2]} s")
EOF
  [ $rc -eq 0 ] || failed=1
fi

# 4. The benchmark.
if [ $bench -eq 1 ]; then
  [ -f "$out/BENCHMARKS.md" ] || cp "$repo/BENCHMARKS.md" "$out/BENCHMARKS.md"
  # shellcheck disable=SC2086
  (cd "$repo" && "${java[@]}" io.github.sigmoidattention.benchmarks.GpuBlockBenchmark \
     --out "$out/BENCHMARKS.md" $bench_args) 2>&1 | tee "$out/java-bench.log" | grep -v '^python: '
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
  # shellcheck disable=SC2086
  (cd "$repo" && "${java[@]}" io.github.sigmoidattention.benchmarks.GpuTrainingBenchmark \
     --out "$out/BENCHMARKS.md" $training_bench_args) 2>&1 | tee "$out/java-training-bench.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed=1
fi
# 5. --run "CLASS ARGS": any program of the bundle, from the repository root.
for program in "${runs[@]}"; do
  # shellcheck disable=SC2086
  (cd "$repo" && "${java[@]}" $program) || failed=1
done
exit $failed
