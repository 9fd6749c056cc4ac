#!/usr/bin/env bash
# On the CPU machine: packs what the GPU machine (CUDA torch, no JDK, no network) needs to run the
# project's Java GPU tests and the Java GPU benchmark (run_java_tests.sh) into one folder, which a
# device call carries (it is git-ignored):
#   jre.tar.xz            a Java runtime made by jlink (java.desktop included, for the loss plots),
#                         with include/jni.h for building DJL's JNI
#   lib/*.jar             the project's jars (cuda-ops with its CUDA kernels) and their dependencies,
#                         less DJL's prebuilt libtorch and JNI (the GPU machine builds its own)
#   test-classes/         djl-sigmoid-attention's compiled tests (the tests tagged gpu run there)
#   junit-platform-console-standalone.jar
#   djl-jni-src.tar.gz    DJL's PyTorch JNI sources, as given by --djl-src (never downloaded)
#   djl-jni-include/      the JNI header of ai.djl.pytorch.jni.PyTorchLibrary, generated here
#
#   cuda-ops/gpu-tests/make_java_bundle.sh --djl-src ../shared/djl-jni/djl-0.36.0-pytorch-jni-src.tar.gz
#       [--out .gpu-bundle] [--no-build]
# --no-build takes the jars already in the local Maven repository (from `mvn install` with nvcc).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$repo/.gpu-bundle" djl_src="" build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --djl-src) djl_src="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)"; exit 2 ;;
  esac
done
if [ -z "$djl_src" ] || [ ! -f "$djl_src" ]; then
  echo "--djl-src must name DJL's PyTorch JNI source tarball (got '${djl_src}')"; exit 2
fi
command -v nvcc >/dev/null || { echo "nvcc is needed: the bundle's cuda-ops jar carries the CUDA kernels"; exit 2; }

cd "$repo"
if [ "$build" = 1 ]; then
  mvn -q -o install -DskipTests -Dnative.cuda=ON
fi
mvn -q -o test-compile -pl djl-sigmoid-attention

rm -rf "$out" && mkdir -p "$out/lib"
cp -r djl-sigmoid-attention/target/test-classes "$out/test-classes"
mvn -q -o dependency:build-classpath -pl benchmarks -Dmdep.includeScope=runtime \
  -Dmdep.outputFile="$out/classpath.txt"
tr ':' '\n' < "$out/classpath.txt" | grep -v -e 'pytorch-native-' -e 'pytorch-jni' | while read -r jar; do
  cp "$jar" "$out/lib/"
done
cp benchmarks/target/benchmarks-*.jar "$out/lib/"
rm "$out/classpath.txt"
unzip -l "$out"/lib/cuda-ops-*.jar | grep -q 'libflash_sigmoid.so' ||
  { echo "the cuda-ops jar has no native library"; exit 1; }

mvn -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:1.14.4 \
  -DoutputDirectory="$out" -Dmdep.stripVersion=true

cp "$djl_src" "$out/djl-jni-src.tar.gz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar xzf "$djl_src" -C "$work"
library_java="$(find "$work" -name PyTorchLibrary.java | head -1)"
javac -d "$work/classes" -h "$out/djl-jni-include" -cp "$(ls "$out"/lib/api-*.jar):$(ls "$out"/lib/pytorch-engine-*.jar)" \
  "$library_java"

jlink --add-modules java.base,java.desktop,java.logging,java.management,java.naming,java.xml,jdk.unsupported,java.sql,jdk.zipfs,jdk.crypto.ec \
  --compress=2 --strip-debug --no-man-pages --output "$work/jre"
tar cJf "$out/jre.tar.xz" -C "$work" jre
du -sh "$out"
